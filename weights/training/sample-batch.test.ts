import { describe, expect, it } from 'bun:test';
import { trainInputs } from './train-graph.ts';
import { trainInputsXl } from './train-graph-xl.ts';
import { sampleBatch } from './sample-batch.ts';
import type { TrainContext } from './train-context.ts';
import { mirrorCaption } from '../../common/train/templates.ts';

/**
 * The smallest context `sampleBatch` reads: one 1×1×1 image whose latent is 0 and whose mirror's is 1 (std 0), and
 * 'sample' prediction, so each sample's target says which of the two was drawn.
 */
const context = (flipProbability: number, captions: boolean): TrainContext =>
  ({
    request: { batch: 32, captions },
    latentDims: [1, 1, 1],
    latents: [
      {
        name: '0.png',
        caption: 'a small {} on the left',
        mean: [Float32Array.of(0), Float32Array.of(1)],
        std: [Float32Array.of(0), Float32Array.of(0)],
      },
    ],
    settings: {
      timesteps: { use: 'uniform', min: 0, max: 10 },
      augment: { flipProbability },
      lossWeighting: { use: 'uniform' },
    },
    ddim: { alphasCumprod: Float64Array.from({ length: 10 }, (_, t) => 1 - t / 20) },
    model: { info: { scalingFactor: 1 }, scheduler: { prediction_type: 'sample' } },
    tokenizer: { tokenize: () => ({ ids: new Array(77).fill(0) }) },
    step: { inputs: [{ name: trainInputs.ids, dtype: 'int32', shape: ['batch', 77] }] },
    tokens: ['<c>'],
    // A template naming a side: templates are not about this image, so a mirror must not change them.
    templates: ['a photo of a {} on the left'],
  }) as unknown as TrainContext;

describe('training micro-batches', () => {
  it('swaps left and right in a caption when its image is mirrored, and only then', () => {
    const b = sampleBatch(context(0.5, true), 0, 1, 0, {
      name: trainInputs.timestep,
      dtype: 'int64',
      shape: ['batch'],
    });
    const target = b.feeds[trainInputs.target].data as Float32Array;
    const flipped = Array.from(target, (z) => z === 1);
    // Both kinds are drawn (p = 0.5, 32 samples), and each prompt matches its image.
    expect(new Set(flipped).size).toBe(2);
    b.prompts.forEach((p, i) => expect(p).toBe(flipped[i] ? 'a small <c> on the right' : 'a small <c> on the left'));
  });

  it('uses the templates, unmirrored, when captions are off', () => {
    const b = sampleBatch(context(1, false), 0, 1, 0, { name: trainInputs.timestep, dtype: 'int64', shape: ['batch'] });
    expect(new Set(b.prompts)).toEqual(new Set(['a photo of a <c> on the left']));
  });
});

describe('SDXL micro-batches', () => {
  it('feed tokenizer_2’s ids and each sample’s time ids — of its image or of the mirror, as drawn', () => {
    const base = context(0.5, false);
    const ctx = {
      ...base,
      latents: [
        {
          ...base.latents[0],
          timeIds: [
            [96, 128, 0, 10, 64, 64],
            [96, 128, 0, 11, 64, 64],
          ],
        },
      ],
      xl: { tokenizer2: { tokenize: () => ({ ids: new Array(77).fill(7) }) }, dim2: 4 },
      step: { inputs: [...base.step.inputs, { name: trainInputsXl.ids2, dtype: 'int64', shape: ['batch', 77] }] },
    } as unknown as TrainContext;
    const b = sampleBatch(ctx, 0, 1, 0, { name: trainInputs.timestep, dtype: 'int64', shape: ['batch'] });
    const target = b.feeds[trainInputs.target].data as Float32Array;
    const timeIds = b.feeds[trainInputsXl.timeIds];
    expect(timeIds.dims).toEqual([32, 6]);
    const lefts = Array.from({ length: 32 }, (_, i) => (timeIds.data as Float32Array)[i * 6 + 3]);
    expect(new Set(lefts)).toEqual(new Set([10, 11]));
    lefts.forEach((left, i) => expect(left).toBe(target[i] === 1 ? 11 : 10));
    const ids2 = b.feeds[trainInputsXl.ids2];
    expect([ids2.dtype, ids2.dims, (ids2.data as BigInt64Array)[0]]).toEqual(['int64', [32, 77], 7n]);
  });
});

describe('mirrorCaption', () => {
  it('swaps whole words left and right, keeping capitals, and nothing else', () => {
    expect(mirrorCaption('Left of a red {} on the right')).toBe('Right of a red {} on the left');
    expect(mirrorCaption('a leftover {} at the top')).toBe('a leftover {} at the top');
  });
});
