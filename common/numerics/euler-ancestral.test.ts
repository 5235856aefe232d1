import { describe, expect, it } from 'bun:test';
import { createEuler } from './euler.ts';
import { ancestralSplit, createEulerAncestral } from './euler-ancestral.ts';

// The four-step schedule of euler.test.ts: linspace, 2 steps, σ = [1.518841, 1/3, 0].
const TINY = { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4], timestep_spacing: 'linspace' };

describe('the Euler-ancestral sampler', () => {
  it('splits σ → σ′ into σ_up and σ_down with σ_down² + σ_up² = σ′²', () => {
    // σ = 2, σ′ = 1, η = 1: σ_up = √(1·(4 − 1)/4) = √0.75; σ_down = √(1 − 0.75) = 0.5.
    const full = ancestralSplit(2, 1, 1);
    expect(full.up).toBeCloseTo(Math.sqrt(0.75), 12);
    expect(full.down).toBeCloseTo(0.5, 12);
    // η = 0.5 halves σ_up: √0.75/2 = 0.433013; σ_down = √(1 − 0.1875) = 0.901388.
    const half = ancestralSplit(2, 1, 0.5);
    expect(half.up).toBeCloseTo(Math.sqrt(0.75) / 2, 12);
    expect(half.down).toBeCloseTo(Math.sqrt(0.8125), 12);
    // To σ′ = 0 there is no noise to add and nowhere to go but 0.
    expect(ancestralSplit(2, 0, 1)).toEqual({ up: 0, down: 0 });
  });

  it('takes one step to the value worked by hand: Euler to σ_down, plus σ_up·z', () => {
    const sampler = createEulerAncestral(TINY);
    const { sigmas } = sampler.schedule(2);
    const r = sampler.step({
      modelOutput: Float32Array.of(0.5),
      sample: Float32Array.of(1),
      sigmas,
      index: 0,
      noise: Float32Array.of(0.2),
    });
    // σ = 1.518841, σ′ = 1/3: σ_up = √((1/9)·(2.306878 − 1/9)/2.306878) = 0.325207, σ_down = √(1/9 − 0.105759)
    // = 0.073155. x_σ = 1/√0.3024 = 1.818482, d = ε = 0.5:
    // x_σ′ = 1.818482 + (0.073155 − 1.518841)·0.5 + 0.325207·0.2 = 1.160681; x′ = 1.160681·√0.9 = 1.101118.
    expect(r.prevSample[0]).toBeCloseTo(1.1011185, 6);
    expect(r.predOriginal[0]).toBeCloseTo(1.0590619, 6);
  });

  it('is plain Euler at η = 0, and needs no noise then', () => {
    const a = createEulerAncestral(TINY, { eta: 0 });
    const e = createEuler(TINY);
    expect(a.stochastic).toBe(false);
    const input = { modelOutput: Float32Array.of(0.5, -0.2), sample: Float32Array.of(1, 0.3), index: 0 };
    const got = a.step({ ...input, sigmas: a.schedule(2).sigmas });
    const want = e.step({ ...input, sigmas: e.schedule(2).sigmas });
    expect(Array.from(got.prevSample)).toEqual(Array.from(want.prevSample));
  });

  it('refuses a noisy step without its noise', () => {
    const sampler = createEulerAncestral(TINY);
    const one = Float32Array.of(1);
    expect(() => sampler.step({ modelOutput: one, sample: one, sigmas: sampler.schedule(2).sigmas, index: 0 })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });
});
