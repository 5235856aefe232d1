import { describe, expect, it } from 'bun:test';
import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import { createDpmSolver2m, dpmSchedule } from './dpm-solver-2m.ts';
import { parseSchedulerConfig } from './scheduler-config.ts';
import { trainingSigmas } from './sigmas.ts';

// Four training steps: ᾱ = 0.9, 0.72, 0.504, 0.3024; in VP terms α_t = √ᾱ_t, s_t = √(1−ᾱ_t), σ_t = s_t/α_t:
// σ_1 = 0.623610, σ_2 = 0.992032, σ_3 = 1.518841. Linspace spacing lays out 4 points over 0 … 3 and drops t = 0,
// so 3 steps visit t = 3, 2, 1 and σ = [σ_3, σ_2, σ_1, 0].
const TINY = { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4], timestep_spacing: 'linspace' };
const sigmaOf = (abar: number) => Math.sqrt((1 - abar) / abar);

describe('the DPM-Solver++(2M) sampler', () => {
  it('lays out N + 1 linspace points, rounds them and drops the last, as diffusers does', () => {
    // linspace(0, 999, 3) = 0, 499.5, 999 → round half to even: 0, 500, 999 → 999, 500.
    expect(dpmSchedule(parseSchedulerConfig({ timestep_spacing: 'linspace' }), 2).timesteps).toEqual([999, 500]);
    // leading, 50 steps, steps_offset 1: ⌊1000/51⌋ = 19, so 50·19 + 1 = 951 down to 19 + 1 = 20.
    const lead = dpmSchedule(parseSchedulerConfig({ steps_offset: 1 }), 50).timesteps;
    expect([lead[0], lead[1], lead.at(-1)]).toEqual([951, 932, 20]);
    const tiny = dpmSchedule(parseSchedulerConfig(TINY), 3);
    expect(tiny.timesteps).toEqual([3, 2, 1]);
    expect(tiny.sigmas[1]).toBeCloseTo(sigmaOf(0.504), 12);
    expect(tiny.sigmas[3]).toBe(0);
    expect(tiny.initScale).toBe(1);
  });

  it('spans Karras σs over the whole training range at rounded timesteps', () => {
    const cfg = parseSchedulerConfig({ timestep_spacing: 'linspace' });
    const train = trainingSigmas(alphasCumprodOf(betaSchedule(cfg)));
    const s = dpmSchedule(cfg, 10, true);
    expect(s.sigmas[0]).toBeCloseTo(train[999], 10);
    expect(s.sigmas[9]).toBeCloseTo(train[0], 10);
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps[9]).toBe(0);
    expect(s.timesteps.every(Number.isInteger)).toBe(true);
    // ρ = 7 crowds the levels at low noise: the middle σ is far below the σs' mean.
    expect(s.sigmas[5]).toBeLessThan((s.sigmas[0] + s.sigmas[9]) / 4);
  });

  it('takes its first step with first order, to the value worked by hand', () => {
    const dpm = createDpmSolver2m(TINY);
    const { sigmas } = dpm.schedule(3);
    const r = dpm.step({ modelOutput: Float32Array.of(0.5), sample: Float32Array.of(1), sigmas, index: 0 });
    // x̂_0 = (1 − s_3·0.5)/α_3 = (1 − 0.417612)/0.549909 = 1.059062;
    // x′ = (s_2/s_3)·x − α_2·(σ_2/σ_3 − 1)·x̂_0 = 0.843214 + 0.709930·0.346850·1.059062 = 1.103996.
    expect(r.predOriginal[0]).toBeCloseTo(1.0590619, 6);
    expect(r.prevSample[0]).toBeCloseTo(1.1039957, 6);
  });

  it('takes a second-order step from this and the previous x̂_0, to the value worked by hand', () => {
    const dpm = createDpmSolver2m(TINY);
    const { sigmas } = dpm.schedule(3);
    const input = { modelOutput: Float32Array.of(0.5), sample: Float32Array.of(1), sigmas, index: 1 };
    const r = dpm.step({ ...input, previousDenoised: Float32Array.of(0.8) });
    // x̂_0 = (1 − s_2·0.5)/α_2 = (1 − √0.496·0.5)/√0.504 = 0.912575.
    // h = λ_1 − λ_2 = log(σ_2/σ_1) = 0.464231; h_prev = log(σ_3/σ_2) = 0.425948; r = h_prev/h = 0.917535.
    // D = x̂_0 + (x̂_0 − 0.8)/(2r) = 0.912575 + 0.112575/1.835070 = 0.973921.
    // x′ = (s_1/s_2)·x − α_1·(σ_1/σ_2 − 1)·D = 0.751343 + 0.315128·0.973921 = 1.058252.
    expect(r.predOriginal[0]).toBeCloseTo(0.9125746, 6);
    expect(r.prevSample[0]).toBeCloseTo(1.0582522, 6);
    // Without a previous x̂_0 the same step is first order: 0.751343 + 0.315128·0.912575 = 1.038920.
    expect(dpm.step(input).prevSample[0]).toBeCloseTo(1.0389203, 6);
  });

  it('ends on x̂_0 with a first-order last step, whatever the previous x̂_0 was', () => {
    const dpm = createDpmSolver2m(TINY);
    const { sigmas } = dpm.schedule(3);
    const r = dpm.step({
      modelOutput: Float32Array.of(0.5),
      sample: Float32Array.of(1),
      sigmas,
      index: 2,
      previousDenoised: Float32Array.of(-3),
    });
    // x̂_0 = (1 − s_1·0.5)/α_1 = (1 − √0.28·0.5)/√0.72 = 0.866707, and σ′ = 0 makes x′ = x̂_0.
    expect(r.predOriginal[0]).toBeCloseTo((1 - Math.sqrt(0.28) * 0.5) / Math.sqrt(0.72), 6);
    expect(r.prevSample[0]).toBe(r.predOriginal[0]);
  });
});
