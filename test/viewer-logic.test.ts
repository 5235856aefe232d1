/**
 * The viewer's pure parts, without a browser: the progress read-out, the EMA of the loss chart, the file names and
 * settings of results, the spread of kept denoising steps and the "server default" labels. Expected numbers are
 * worked out by hand in each test.
 */
import { describe, expect, it } from 'bun:test';
import { spread } from '../viewer/spread.js';
import { counterText, duration, progressTracker } from '../viewer/progress.js';
import { imageFileName, settingsRows, slug } from '../viewer/result-card.js';
import { ema } from '../viewer/smoothing.js';
import { defaultLabel } from '../viewer/stage-picker.js';

const progress = (phase: string, step: number, of: number, elapsedMs: number, itPerSec?: number) => ({
  type: 'progress',
  phase,
  step,
  of,
  elapsedMs,
  itPerSec,
});

describe('progressTracker', () => {
  it('measures a generation from its first denoising step, so the model loading is not counted', () => {
    const p = progressTracker('generate');
    p.frame(progress('load', 0, 20, 0));
    expect(p.read()).toMatchObject({ phase: 'load', text: 'loading the model', step: 0, of: 20, percent: 0 });
    // The model took 3 s to load; then steps 1 → 5 took 400 ms: 4 steps / 0.4 s = 10 it/s (not 5 / 3.4 s).
    p.frame(progress('denoise', 1, 20, 3000, 1 / 3));
    expect(p.read().rate).toBeUndefined();
    p.frame(progress('denoise', 5, 20, 3400, 5 / 3.4));
    const r = p.read();
    expect(r.rate).toBeCloseTo(10, 10);
    expect(r.percent).toBe(25);
    expect(r.etaS).toBeCloseTo(1.5, 10); // 15 steps left at 10 it/s
    expect(counterText('generate', r)).toBe('denoise 5/20');
  });

  it("keeps a training run's counter through a validation's own denoising, and ends at the run's last step", () => {
    const p = progressTracker('train', 6);
    p.frame(progress('load', 0, 6, 0));
    expect(p.read().text).toBe('loading the model and encoding the images');
    p.frame(progress('train', 0, 6, 0));
    for (let step = 1; step <= 6; step++) p.frame({ type: 'loss', step });
    p.frame(progress('validate', 2, 3, 0));
    expect(p.read()).toMatchObject({ phase: 'validate', text: 'validating (denoising 2/3)', step: 6, of: 6 });
    p.frame({ type: 'checkpoint' });
    expect(p.read().text).toBe('saving a checkpoint');
    p.frame({ type: 'done' });
    const r = p.read();
    expect([r.phase, r.text, r.percent, r.etaS]).toEqual(['done', 'finished', 100, 0]);
    expect(counterText('train', r)).toBe('train 6/6');
  });

  it("uses the training run's own rate (counted from its first step) until two frames give one", () => {
    const p = progressTracker('train');
    p.frame(progress('train', 10, 100, 2000, 5));
    expect(p.read().rate).toBe(5);
    p.frame(progress('train', 30, 100, 4000, 7));
    expect(p.read().rate).toBe(10); // 20 steps in 2 s, measured here rather than the server's 7
    expect(p.read().etaS).toBe(7); // 70 steps left
  });

  it('measures again from a clock that went back (a resumed run)', () => {
    const p = progressTracker('train');
    p.frame(progress('train', 10, 100, 9000));
    p.frame(progress('train', 20, 100, 10_000));
    p.frame(progress('train', 21, 100, 100));
    p.frame(progress('train', 25, 100, 500));
    expect(p.read().rate).toBe(10); // 4 steps in 0.4 s, not measured across the restart
  });

  it('says which error stopped a run', () => {
    const p = progressTracker('generate');
    p.frame({ type: 'error', code: 'cancelled' });
    expect(p.read().text).toBe('stopped (cancelled)');
  });
});

describe('duration', () => {
  it('writes seconds as m:ss, and h:mm:ss past an hour', () => {
    expect([duration(0), duration(75), duration(3725), duration(undefined)]).toEqual(['0:00', '1:15', '1:02:05', '–']);
  });
});

describe('ema', () => {
  it('is the bias-corrected moving average, skipping gaps', () => {
    // weight 0.5: acc = 0.5 → 0.5 / 0.5 = 1; acc = 0.25 + 1.5 = 1.75 → 1.75 / 0.75; a gap stays a gap.
    const out = ema([1, null, 3], 0.5);
    expect(out[0]).toBe(1);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeCloseTo(1.75 / 0.75, 12);
    expect(ema([4, 4, 4], 0.9)).toEqual([4, 4, 4].map(() => expect.closeTo(4, 12)));
  });
});

describe('results', () => {
  const settings = {
    prompt: 'A photo of a <red> star!',
    negativePrompt: 'blurry',
    seed: 7,
    steps: 20,
    guidance: 7.5,
    sampler: 'ddim',
    width: null,
    height: null,
    model: 'tiny',
    embeddings: ['/data/emb/star.safetensors'],
  };

  it('names a downloaded image by its prompt, seed, steps, sampler and size', () => {
    expect(imageFileName(settings, { width: 64, height: 48 })).toBe(
      'a-photo-of-a-red-star-seed7-20steps-ddim-64x48.png',
    );
    expect(imageFileName(settings, { width: 64, height: 48, index: 2 })).toEndWith('-64x48-2.png');
    expect(slug('')).toBe('untitled');
  });

  it('lists every setting that made the image, the decoded size when the request left it to the model', () => {
    expect(Object.fromEntries(settingsRows(settings, { width: 64, height: 64 }))).toEqual({
      prompt: 'A photo of a <red> star!',
      'negative prompt': 'blurry',
      seed: '7',
      steps: '20',
      guidance: '7.5',
      sampler: 'ddim',
      size: '64×64',
      model: 'tiny',
      embeddings: 'star.safetensors',
    });
  });
});

describe('spread', () => {
  it('keeps the first and last item and spaces the rest evenly', () => {
    expect(spread([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([1, 4, 7]);
    expect(spread([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4)).toEqual([1, 4, 7, 10]);
    expect(spread([1, 2], 4)).toEqual([1, 2]);
  });
});

describe('defaultLabel', () => {
  it('says what "server default" is when the server said', () => {
    expect(defaultLabel({ use: 'latent-rgb', every: 1 })).toBe('server default (latent-rgb, every 1)');
    expect(defaultLabel(undefined)).toBe('server default');
  });
});
