import { describe, expect, it } from 'bun:test';
import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import { createEuler, eulerSchedule } from './euler.ts';
import { parseSchedulerConfig } from './scheduler-config.ts';
import { trainingSigmas } from './sigmas.ts';

// Four training steps, worked by hand: β = 0.1, 0.2, 0.3, 0.4 → ᾱ = 0.9, 0.72, 0.504, 0.3024, so
// σ_t = √((1−ᾱ)/ᾱ): σ_0 = 1/3, σ_1 = 0.623610, σ_2 = 0.992032, σ_3 = √(0.6976/0.3024) = 1.518841.
// With linspace spacing, 2 steps visit t = 3, 0: σ = [1.518841, 1/3, 0].
const TINY = { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4], timestep_spacing: 'linspace' };
const S3 = Math.sqrt(0.6976 / 0.3024);
const S0 = 1 / 3;

describe('the Euler sampler', () => {
  it('walks fractional linspace timesteps with σ interpolated between training steps, then σ = 0', () => {
    const cfg = parseSchedulerConfig({ timestep_spacing: 'linspace' });
    const s = eulerSchedule(cfg, 3);
    // linspace(0, 999, 3) reversed: 999, 499.5, 0 — not rounded, as diffusers' EulerDiscreteScheduler.
    expect(s.timesteps).toEqual([999, 499.5, 0]);
    const train = trainingSigmas(alphasCumprodOf(betaSchedule(cfg)));
    expect(s.sigmas[1]).toBeCloseTo((train[499] + train[500]) / 2, 12);
    expect(s.sigmas).toHaveLength(4);
    expect(s.sigmas[3]).toBe(0);
    // SD's σ_max is 14.6146; linspace starts from N(0, I)·σ_max, which in VP terms is N(0, I)·σ/√(σ² + 1).
    expect(s.sigmas[0]).toBeCloseTo(14.6146, 3);
    expect(s.initScale).toBeCloseTo(14.6146 / Math.sqrt(14.6146 ** 2 + 1), 5);
  });

  it("walks SDXL's leading spacing (steps_offset 1) from t = 981 and starts from plain N(0, I)", () => {
    const s = eulerSchedule(parseSchedulerConfig({ timestep_spacing: 'leading', steps_offset: 1 }), 50);
    expect(s.timesteps.slice(0, 3)).toEqual([981, 961, 941]);
    expect(s.timesteps.at(-1)).toBe(1);
    // diffusers' init_noise_sigma √(σ_max² + 1) is, divided by √(σ_max² + 1), exactly 1.
    expect(s.initScale).toBe(1);
  });

  it('puts Karras σs between the spaced schedule’s first and last σ, at fractional timesteps', () => {
    const cfg = parseSchedulerConfig({ timestep_spacing: 'linspace' });
    const plain = eulerSchedule(cfg, 10);
    const k = eulerSchedule(cfg, 10, true);
    expect(k.sigmas[0]).toBeCloseTo(plain.sigmas[0], 10);
    expect(k.sigmas[9]).toBeCloseTo(plain.sigmas[9], 10);
    expect(k.timesteps[0]).toBeCloseTo(999, 6);
    expect(k.timesteps.some((t) => !Number.isInteger(t))).toBe(true);
  });

  it('takes one ε-prediction step to the value worked by hand from Algorithm 2', () => {
    const euler = createEuler(TINY);
    const { sigmas, timesteps } = euler.schedule(2);
    expect(timesteps).toEqual([3, 0]);
    expect(sigmas[0]).toBeCloseTo(S3, 12);
    expect(sigmas[1]).toBeCloseTo(S0, 12);
    const r = euler.step({ modelOutput: Float32Array.of(0.5), sample: Float32Array.of(1), sigmas, index: 0 });
    // x_σ = 1·√(σ_3² + 1) = 1/√0.3024 = 1.818482; x̂_0 = x_σ − σ_3·ε = 1.818482 − 0.759421 = 1.059062;
    // d = (x_σ − x̂_0)/σ_3 = 0.5; x_σ' = 1.818482 + (1/3 − 1.518841)·0.5 = 1.225729;
    // back to VP: x' = x_σ'/√((1/3)² + 1) = 1.225729·√0.9 = 1.162828.
    expect(r.predOriginal[0]).toBeCloseTo(1.0590619, 6);
    expect(r.prevSample[0]).toBeCloseTo(1.1628282, 6);
  });

  it('lands on x̂_0 itself in the last step, to σ = 0', () => {
    const euler = createEuler(TINY);
    const { sigmas } = euler.schedule(2);
    const r = euler.step({ modelOutput: Float32Array.of(0.5), sample: Float32Array.of(1.1628282), sigmas, index: 1 });
    // x_σ = 1.1628282/√0.9 = 1.225729; x̂_0 = 1.225729 − (1/3)·0.5 = 1.059062, the same x̂_0 as the step before
    // (a constant ε is the true noise of one x_0), and x' = x̂_0.
    expect(r.prevSample[0]).toBeCloseTo(1.0590619, 6);
    expect(r.prevSample[0]).toBe(r.predOriginal[0]);
  });

  it('reads a v-prediction as x̂_0 = α·x − σα·v', () => {
    const euler = createEuler({ ...TINY, prediction_type: 'v_prediction' });
    const { sigmas } = euler.schedule(2);
    const r = euler.step({ modelOutput: Float32Array.of(0.5), sample: Float32Array.of(1), sigmas, index: 0 });
    // α = √ᾱ_3 = √0.3024 = 0.549909, σα = √0.6976 = 0.835225: x̂_0 = 0.549909 − 0.417612 = 0.132297;
    // d = (1.818482 − 0.132297)/1.518841 = 1.110179; x_σ' = 1.818482 − 1.185508·1.110179 = 0.502357;
    // x' = 0.502348·√0.9 = 0.476577.
    expect(r.predOriginal[0]).toBeCloseTo(0.1322968, 6);
    expect(r.prevSample[0]).toBeCloseTo(0.4765772, 6);
  });

  it('refuses a step outside its schedule and arrays that differ in length', () => {
    const euler = createEuler(TINY);
    const { sigmas } = euler.schedule(2);
    const one = Float32Array.of(1);
    expect(() => euler.step({ modelOutput: one, sample: one, sigmas, index: 2 })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    expect(() => euler.step({ modelOutput: Float32Array.of(1, 2), sample: one, sigmas, index: 0 })).toThrow(
      expect.objectContaining({ code: 'shape_mismatch' }),
    );
  });
});
