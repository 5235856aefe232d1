import { describe, expect, it } from 'bun:test';
import { createDdim } from './ddim.ts';
import { createDpmSolver2m } from './dpm-solver-2m.ts';
import { createEuler } from './euler.ts';
import { createEulerAncestral } from './euler-ancestral.ts';
import { createRng } from './rng.ts';
import type { Sampler } from './sampler.ts';
import { vpScale } from './sigmas.ts';

// An oracle denoiser: it knows x_0, so for a VP sample x at noise level σ (x = α·x_0 + s·ε, α = 1/√(σ²+1),
// s = σ·α) it answers the true ε = (x − α·x_0)/s, or the true v = α·ε − s·x_0. Every sampler must then land on
// x_0 — whatever noise it started from and whatever noise it added on the way.
const x0 = Float32Array.of(0.3, -0.7, 1.2, 0, -1.5, 0.05);
const oracle = (prediction: string, x: Float32Array, sigma: number) => {
  const a = vpScale(sigma);
  const s = sigma * a;
  const eps = x.map((xi, i) => (xi - a * x0[i]) / s);
  return prediction === 'v_prediction' ? eps.map((e, i) => a * e - s * x0[i]) : eps;
};

const run = (sampler: Sampler, steps: number, seed: number) => {
  const rng = createRng(seed);
  const { timesteps, sigmas, initScale } = sampler.schedule(steps);
  let x: Float32Array = rng.fillNormal(new Float32Array(x0.length)).map((z) => z * initScale);
  let previousDenoised: Float32Array | undefined;
  timesteps.forEach((_, index) => {
    const modelOutput = oracle(sampler.config.prediction_type, x, sigmas[index]);
    const noise = rng.fillNormal(new Float32Array(x.length));
    const r = sampler.step({ modelOutput, sample: x, sigmas, index, noise, previousDenoised });
    x = r.prevSample;
    previousDenoised = r.predOriginal;
  });
  return x;
};

const close = (a: Float32Array, b: Float32Array) => {
  for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 4);
};

describe('every sampler, given a model that predicts the true noise', () => {
  const configs = [
    { name: 'ε, linspace', config: { timestep_spacing: 'linspace' } },
    { name: 'ε, leading (SDXL)', config: { timestep_spacing: 'leading', steps_offset: 1 } },
    { name: 'v, trailing', config: { timestep_spacing: 'trailing', prediction_type: 'v_prediction' } },
    {
      name: 'v, trailing, zero terminal SNR',
      config: { timestep_spacing: 'trailing', prediction_type: 'v_prediction', rescale_betas_zero_snr: true },
    },
  ];
  for (const { name, config } of configs) {
    const samplers: [string, Sampler][] = [
      ['euler', createEuler(config)],
      ['euler (Karras σs)', createEuler(config, { karras: true })],
      ['euler-a', createEulerAncestral(config)],
      ['dpm++2m', createDpmSolver2m(config)],
      ['dpm++2m (Karras σs)', createDpmSolver2m(config, { karras: true })],
    ];
    for (const [label, sampler] of samplers)
      it(`${label} recovers x_0 (${name}) in 1, 7 and 25 steps`, () => {
        for (const steps of [1, 7, 25]) close(run(sampler, steps, steps), x0);
      });
  }

  it('ddim recovers x_0 too (its own timestep API, ᾱ instead of σ)', () => {
    const ddim = createDdim({ clip_sample: false, set_alpha_to_one: true, steps_offset: 1 });
    let x = createRng(1).fillNormal(new Float32Array(x0.length));
    for (const t of ddim.timesteps(7)) {
      const abar = ddim.alphasCumprod[t];
      const eps = oracle('epsilon', x, Math.sqrt((1 - abar) / abar));
      x = ddim.step({ modelOutput: eps, timestep: t, sample: x }).prevSample;
    }
    close(x, x0);
  });
});
