/**
 * Textual inversion on a float16 export of tiny (converted by our `float16Folder`): float32 master vectors, the
 * loss in float32, dynamic loss scaling — and a forced overflow, by resuming from a state whose scale is far too
 * large, which must skip updates and halve the scale until the gradient is finite again.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { float16ModelDir } from './support/float16-model.ts';
import { conceptFolder } from './train-helpers.ts';

const images = await conceptFolder();
const model = await float16ModelDir('tiny');
const deps = trainDeps();
const train = (o: Record<string, unknown>) =>
  lastValueFrom(
    runTrain(
      parseTrainRequest({
        images,
        model,
        token: '<disc>',
        init: 'circle',
        lr: 0.05,
        validateEvery: 0,
        previewEvery: 0,
        ...o,
      }),
      deps,
    ).pipe(toArray()),
  );
const losses = (fs: Frame[]) => fs.filter((f): f is Extract<Frame, { type: 'loss' }> => f.type === 'loss');
const state = (dir: string) => JSON.parse(readFileSync(join(dir, 'training-state.json'), 'utf8'));

describe('textual inversion on a float16 export of tiny', () => {
  test('trains with the loss scaled by 2^16, ends with finite vectors, and the file loads back', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-train-'));
    const fs = await train({ out, steps: 4, saveEvery: 2, validateEvery: 2, validationImages: 1, validationSteps: 2 });
    expect(fs.at(-1)!.type).toBe('done');
    expect(losses(fs).map((f) => f.step)).toEqual([1, 2, 3, 4]);
    for (const f of losses(fs)) {
      expect(Number.isFinite(f.loss) && f.gradNorm > 0).toBe(true);
      expect(f.terms).toEqual({ lossScale: 65536 });
    }
    const e = readEmbedding(new Uint8Array(readFileSync(join(out, 'learned_embeds.safetensors'))), {
      fileName: 'learned_embeds.safetensors',
    });
    expect(e.token).toBe('<disc>');
    expect(e.vectors.every(Number.isFinite)).toBe(true);
    // The scaler's state is saved with the run: four good steps at 2^16.
    expect(state(out).lossScale).toEqual({ scale: 65536, goodSteps: 4 });
  });

  test('on a forced overflow skips the update, halves the scale, and trains on once the gradient is finite', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-overflow-'));
    await train({ out, steps: 2, saveEvery: 2 });
    // Force it: a saved scale of 2^40 overflows half precision in the backward pass (65504 is its largest value).
    const saved = state(out);
    writeFileSync(
      join(out, 'training-state.json'),
      JSON.stringify({ ...saved, lossScale: { scale: 2 ** 40, goodSteps: 5 } }),
    );
    const one = await train({ out, steps: 3, saveEvery: 1, resume: true });
    expect(losses(one)).toHaveLength(1);
    expect(losses(one)[0]).toMatchObject({ step: 3, phase: 'overflow', gradNorm: 0, terms: { lossScale: 2 ** 40 } });
    const after = state(out);
    expect(after.step).toBe(3);
    expect(after.vectors).toBe(saved.vectors); // nothing was applied…
    expect(after.optimizer).toEqual(saved.optimizer); // …not even to AdamW's moments
    expect(after.lossScale).toEqual({ scale: 2 ** 39, goodSteps: 0 });
    // Going on: each overflow halves the scale used by the next step, each finite step keeps it (the growth
    // interval, 2000, is not reached), so the scales the frames report follow from the frames' phases alone.
    const rest = await train({ out, steps: 30, saveEvery: 0, resume: true });
    let scale = 2 ** 39;
    let good = 0;
    for (const f of losses(rest)) {
      expect(f.terms).toEqual({ lossScale: scale });
      if (f.phase === 'overflow') {
        scale /= 2;
        good = 0;
      } else {
        expect(f.gradNorm).toBeGreaterThan(0);
        good++;
      }
    }
    expect(scale).toBeLessThan(2 ** 30); // it came down from 2^39…
    expect(good).toBeGreaterThan(0); // …and training went on with finite gradients
    const end = state(out);
    expect(end.vectors).not.toBe(saved.vectors);
    expect(end.lossScale).toEqual({ scale, goodSteps: good });
  });

  test('the train command says when a step was skipped on overflow', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-cli-'));
    await train({ out, steps: 1, saveEvery: 1 });
    writeFileSync(
      join(out, 'training-state.json'),
      JSON.stringify({ ...state(out), lossScale: { scale: 2 ** 40, goodSteps: 0 } }),
    );
    const args = ['--model', model, '--images', images, '--token', '<disc>', '--init', 'circle', '--lr', '0.05'];
    const p = Bun.spawnSync(
      [
        process.execPath,
        join(import.meta.dir, '..', 'adapters', 'cli', 'main.ts'),
        'train',
        ...args,
        '--steps',
        '2',
        '--validate-every',
        '0',
        '--out',
        out,
        '--resume',
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    );
    expect(p.exitCode).toBe(0);
    expect(p.stderr.toString()).toContain('training 2/2 loss');
    expect(p.stderr.toString()).toContain(
      'gradient overflow at loss scale 1099511627776: update skipped, scale halved',
    );
  });
});
