/**
 * A description's sampler as the generate loop's parts: the update stage, the timesteps it walks, the scale of its
 * first latent and how it noises a clean latent part of the way (image-to-image). DDIM keeps its own stage; the
 * σ-space samplers share `samplerStep`.
 */
import type { OperatorFunction } from 'rxjs';
import type { Denoising, Predicted } from '../common/generate-state.ts';
import type { SamplerChoice } from '../common/generate-pipeline.ts';
import { createDdim } from '../common/numerics/ddim.ts';
import { createDpmSolver2m } from '../common/numerics/dpm-solver-2m.ts';
import { createEuler } from '../common/numerics/euler.ts';
import { createEulerAncestral } from '../common/numerics/euler-ancestral.ts';
import type { Sampler } from '../common/numerics/sampler.ts';
import type { SchedulerConfig } from '../common/numerics/scheduler-config.ts';
import { vpScale } from '../common/numerics/sigmas.ts';
import { ddimStep } from '../stages/ddim-step.ts';
import type { NoiseSchedule } from '../stages/noise-to-strength.ts';
import { samplerStep } from '../stages/sampler-step.ts';

/** What the generate loop (and image-to-image's noising) needs from a sampler. */
export interface SamplerStages extends NoiseSchedule {
  readonly update: OperatorFunction<Predicted, Denoising>;
}

const sigmaSpace = (sampler: Sampler, name: string): SamplerStages => ({
  update: samplerStep(sampler, name),
  timesteps: (n) => sampler.schedule(n).timesteps,
  initScale: (n) => sampler.schedule(n).initScale,
  // x_σ = z₀ + σ·ε (diffusers' Euler add_noise), scaled to the VP latent: α·z₀ + σα·ε with α = 1/√(σ²+1).
  noiseTo: (x0, noise, index, n) => {
    const sigma = sampler.schedule(n).sigmas[index];
    const a = vpScale(sigma);
    return x0.map((v, i) => a * v + sigma * a * noise[i]);
  },
});

/**
 * The stages for one sampler choice over a model's scheduler config.
 * @example const { update, timesteps } = samplerStages({ use: 'dpm++2m', karras: true }, model.scheduler);
 */
export const samplerStages = (choice: SamplerChoice, scheduler: SchedulerConfig): SamplerStages => {
  switch (choice.use) {
    case 'euler':
      return sigmaSpace(createEuler(scheduler, { karras: choice.karras }), choice.use);
    case 'euler-a':
      return sigmaSpace(createEulerAncestral(scheduler, { eta: choice.eta, karras: choice.karras }), choice.use);
    case 'dpm++2m':
      return sigmaSpace(createDpmSolver2m(scheduler, { karras: choice.karras }), choice.use);
    default: {
      const ddim = createDdim(scheduler);
      return {
        update: choice.use === 'ddim' ? ddimStep(ddim) : ddimStep(ddim, { eta: 1 }),
        timesteps: (n) => ddim.timesteps(n),
        initScale: () => 1,
        noiseTo: (x0, noise, index, n) => ddim.addNoise(x0, noise, ddim.timesteps(n)[index]),
      };
    }
  }
};
