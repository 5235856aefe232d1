import { PipelineError } from '../errors.ts';
import { eulerSchedule, eulerUpdate } from './euler.ts';
import { checkStep, perStepCount, type Sampler } from './sampler.ts';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.ts';

/** Options of Euler-ancestral. */
export interface EulerAncestralOptions {
  /** How much of each step's noise is fresh: 1 is the ancestral sampler (diffusers, k-diffusion), 0 is Euler. */
  readonly eta?: number;
  /** Karras σs (ρ = 7); default: the config's use_karras_sigmas. */
  readonly karras?: boolean;
}

/**
 * The ancestral split of one step σ → σ' (k-diffusion's get_ancestral_step): the next sample should have noise σ',
 * made of a deterministic part σ_down and fresh noise σ_up with σ_down² + σ_up² = σ'²,
 *
 *     σ_up   = min(σ', η·√(σ'²·(σ² − σ'²)/σ²))
 *     σ_down = √(σ'² − σ_up²)
 *
 * (η = 1 is DDPM's posterior variance in σ terms). σ' = 0 gives σ_up = σ_down = 0.
 *
 * @example
 * ancestralSplit(2, 1, 1); // { up: √0.75, down: 0.5 }
 */
export const ancestralSplit = (sigma: number, next: number, eta: number): { up: number; down: number } => {
  const up = Math.min(next, eta * Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma)));
  return { up, down: Math.sqrt(Math.max(0, next * next - up * up)) };
};

/**
 * Euler-ancestral (k-diffusion's sample_euler_ancestral; diffusers' EulerAncestralDiscreteScheduler at η = 1, SDXL's
 * default): an Euler step from σ down to σ_down, then fresh noise σ_up·z, in σ space:
 *
 *     x_σ' = x_σ + (σ_down − σ)·(x_σ − x̂_0)/σ + σ_up·z
 *
 * z comes from the caller (a stream forked off the run's seed per step), so a seed reproduces the run.
 *
 * @example
 * const sampler = createEulerAncestral({ _class_name: 'EulerAncestralDiscreteScheduler' });
 * sampler.step({ modelOutput, sample, sigmas, index, noise: rng.fillNormal(new Float32Array(sample.length)) });
 */
export const createEulerAncestral = (
  config: SchedulerConfig | Record<string, unknown> = {},
  o: EulerAncestralOptions = {},
): Sampler => {
  const cfg = parseSchedulerConfig(config);
  const eta = o.eta ?? 1;
  const karras = o.karras ?? cfg.use_karras_sigmas;
  return {
    config: cfg,
    stochastic: eta > 0,
    schedule: perStepCount((n) => eulerSchedule(cfg, n, karras)),
    step: (input) => {
      checkStep('euler-a', input);
      const { up, down } = ancestralSplit(input.sigmas[input.index], input.sigmas[input.index + 1], eta);
      const z = input.noise;
      if (up > 0 && !z) throw new PipelineError('bad_request', 'euler-a: a step with fresh noise needs `noise`');
      return eulerUpdate(cfg, input, down, (xs) => {
        if (up > 0 && z) for (let i = 0; i < xs.length; i++) xs[i] += up * z[i];
      });
    },
  };
};
