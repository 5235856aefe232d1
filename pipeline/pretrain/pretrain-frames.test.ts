import { describe, expect, test } from 'bun:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { parseFrame } from '../../common/frames.ts';
import { defaultRecipe, type PretrainRecipe } from './pretrain-config.ts';
import { pretrainRun } from './pretrain-frames.ts';
import type { PretrainEvent } from './pretrain.ts';

const recipe: PretrainRecipe = {
  ...defaultRecipe,
  vae: { ...defaultRecipe.vae, steps: 2 },
  decoder: { ...defaultRecipe.decoder, steps: 1 },
  diffusion: { ...defaultRecipe.diffusion, steps: 2 },
};

/** A recorded pretraining: two VAE steps, one decoder step, two diffusion steps, a checkpoint each, the model. */
async function* recorded(log: string[]): AsyncGenerator<PretrainEvent> {
  try {
    yield { type: 'info', message: 'vae: 10 weights' };
    for (const [phase, n] of [
      ['vae', 2],
      ['decoder', 1],
      ['diffusion', 2],
    ] as const) {
      for (let step = 1; step <= n; step++) {
        log.push(`${phase}:${step}`);
        const terms: Record<string, number> = phase === 'diffusion' ? {} : { rec: 0.5 / step, kl: 2 };
        yield { type: 'step', phase, step, of: n, loss: 1 / step, lr: 1e-3, gradNorm: 0.5, terms };
      }
      yield { type: 'checkpoint', phase, step: n, blob: new Uint8Array(8) };
    }
    yield { type: 'model', files: { 'model_index.json': new Uint8Array(2) } };
  } finally {
    log.push('closed');
  }
}

const run = (log: string[], saved: string[]) =>
  pretrainRun(
    {
      recipe,
      events: recorded(log),
      prompts: ['a red circle'],
      saveCheckpoint: (phase, step) => (saved.push(`${phase}@${step}`), `work/${phase}.ckpt`),
      saveModel: () => (saved.push('model'), 'out/tiny'),
      sample: async (dir, prompt) => (
        saved.push(`sample ${dir} ${prompt}`), { png: new Uint8Array([1]), width: 64, height: 64 }
      ),
    },
    'p1',
  );

describe('pretraining as a run', () => {
  test('streams a loss and a progress frame per step, counting steps across the phases', async () => {
    const frames = await lastValueFrom(run([], []).pipe(toArray()));
    for (const f of frames) expect(parseFrame(f)).toEqual(f);
    const losses = frames.filter((f): f is Extract<Frame, { type: 'loss' }> => f.type === 'loss');
    expect(losses.map((f) => `${f.phase}:${f.step}`)).toEqual([
      'vae:1',
      'vae:2',
      'decoder:3',
      'diffusion:4',
      'diffusion:5',
    ]);
    expect(losses[1].terms).toEqual({ rec: 0.25, kl: 2 });
    expect(losses[3].terms).toBeUndefined();
    expect(losses.every((f) => f.embeddingNorm === undefined)).toBe(true);
    const progress = frames.filter((f) => f.type === 'progress');
    expect(progress.map((f) => f.type === 'progress' && [f.step, f.of, f.phase])).toContainEqual([3, 5, 'decoder']);
  });

  test('reports each saved checkpoint, then the samples of the written model, then done', async () => {
    const saved: string[] = [];
    const frames = await lastValueFrom(run([], saved).pipe(toArray()));
    expect(saved).toEqual(['vae@2', 'decoder@1', 'diffusion@2', 'model', 'sample out/tiny a red circle']);
    const checkpoints = frames.filter((f) => f.type === 'checkpoint');
    expect(checkpoints.map((f) => f.type === 'checkpoint' && [f.step, f.files[0]])).toEqual([
      [2, 'work/vae.ckpt'],
      [3, 'work/decoder.ckpt'],
      [5, 'work/diffusion.ckpt'],
    ]);
    const [validation, done] = frames.slice(-2);
    expect(validation.type === 'validation' && validation.images.map((i) => i.prompt)).toEqual(['a red circle']);
    expect(done.type === 'done' && done.summary.model).toBe('out/tiny');
  });

  test('stops the training between two steps when unsubscribed', async () => {
    const log: string[] = [];
    const saved: string[] = [];
    await lastValueFrom(run(log, saved).pipe(take(3)));
    await new Promise((r) => setTimeout(r, 10));
    expect(log.at(-1)).toBe('closed');
    expect(log.filter((l) => l !== 'closed').length).toBeLessThanOrEqual(3);
    expect(saved).not.toContain('model');
  });
});
