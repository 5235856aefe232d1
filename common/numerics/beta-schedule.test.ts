import { describe, expect, it } from 'bun:test';
import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import { parseSchedulerConfig } from './scheduler-config.ts';

describe('betaSchedule', () => {
  it('gives SD scaled_linear betas that run from 0.00085 to 0.012 along a squared line', () => {
    const b = betaSchedule(parseSchedulerConfig({}));
    expect(b.length).toBe(1000);
    expect(b[0]).toBeCloseTo(0.00085, 15);
    expect(b[999]).toBeCloseTo(0.012, 15);
    // β_500 = (√0.00085 + 500/999·(√0.012 − √0.00085))²
    const r = Math.sqrt(0.00085) + (500 / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085));
    expect(b[500]).toBeCloseTo(r * r, 15);
  });

  it('gives SD alphas_cumprod whose sigma range is the published 0.0292 … 14.6146', () => {
    const a = alphasCumprodOf(betaSchedule(parseSchedulerConfig({})));
    // k-diffusion / ComfyUI report SD1.x sigma_min 0.0292, sigma_max 14.6146, with σ = √((1−ᾱ)/ᾱ).
    expect(Math.sqrt((1 - a[0]) / a[0])).toBeCloseTo(0.0292, 4);
    expect(Math.sqrt((1 - a[999]) / a[999])).toBeCloseTo(14.6146, 3);
  });

  it('matches ᾱ written as exp of a sum of logs at several t', () => {
    const a = alphasCumprodOf(betaSchedule(parseSchedulerConfig({})));
    const s0 = Math.sqrt(0.00085);
    const d = (Math.sqrt(0.012) - s0) / 999;
    for (const t of [0, 1, 250, 500, 981, 999]) {
      let logSum = 0;
      for (let i = 0; i <= t; i++) logSum += Math.log1p(-((s0 + i * d) ** 2));
      expect(a[t] / Math.exp(logSum)).toBeCloseTo(1, 12);
    }
  });

  it('gives linear betas and their products by hand for a four-step schedule', () => {
    const b = betaSchedule(
      parseSchedulerConfig({ num_train_timesteps: 4, beta_schedule: 'linear', beta_start: 0.1, beta_end: 0.4 }),
    );
    [0.1, 0.2, 0.3, 0.4].forEach((v, i) => expect(b[i]).toBeCloseTo(v, 15));
    // 0.9, 0.9·0.8, 0.72·0.7, 0.504·0.6
    [0.9, 0.72, 0.504, 0.3024].forEach((v, i) => expect(alphasCumprodOf(b)[i]).toBeCloseTo(v, 14));
  });

  it('gives cosine alphas_cumprod that telescope to cos² ratios where the 0.999 cap is idle', () => {
    const a = alphasCumprodOf(betaSchedule(parseSchedulerConfig({ beta_schedule: 'squaredcos_cap_v2' })));
    const f = (tau: number) => Math.cos(((tau + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    // ∏_{i≤t} f((i+1)/T)/f(i/T) = f((t+1)/T)/f(0)
    for (const t of [0, 100, 500, 900]) expect(a[t]).toBeCloseTo(f((t + 1) / 1000) / f(0), 12);
  });

  it('uses trained_betas verbatim', () => {
    const b = betaSchedule(parseSchedulerConfig({ num_train_timesteps: 2, trained_betas: [0.25, 0.5] }));
    expect(Array.from(b)).toEqual([0.25, 0.5]);
  });

  it('rescales to zero terminal SNR keeping the first ᾱ', () => {
    const plain = alphasCumprodOf(betaSchedule(parseSchedulerConfig({})));
    const zero = alphasCumprodOf(betaSchedule(parseSchedulerConfig({ rescale_betas_zero_snr: true })));
    expect(zero[0]).toBeCloseTo(plain[0], 14);
    expect(zero[999]).toBeCloseTo(0, 14);
    // √ᾱ is an affine map of the old √ᾱ: (r − r_T)·r_0/(r_0 − r_T).
    const r = plain.map(Math.sqrt);
    const want = ((r[500] - r[999]) * r[0]) / (r[0] - r[999]);
    expect(Math.sqrt(zero[500])).toBeCloseTo(want, 12);
  });
});
