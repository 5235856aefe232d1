import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import {
  checkStep,
  checkStepCount,
  denoisedFrom,
  perStepCount,
  type Sampler,
  type SamplerSchedule,
  type SamplerStepInput,
} from './sampler.ts';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.ts';
import { karrasSigmas, sigmaAt, timestepOfSigma, trainingSigmas, vpScale } from './sigmas.ts';
import { timestepSpacing } from './timestep-spacing.ts';

/** Options of the Euler samplers. */
export interface EulerOptions {
  /** Karras σs (ρ = 7) between the spaced schedule's first and last σ; default: the config's use_karras_sigmas. */
  readonly karras?: boolean;
}

/**
 * The timesteps and σs diffusers' EulerDiscreteScheduler (and EulerAncestral) walk in N steps:
 * - `linspace`: t_i = i·(T−1)/(N−1) for i = N−1 … 0, NOT rounded (so σ is interpolated between training steps);
 * - `leading` / `trailing`: the integer lists DDIM uses (see timestepSpacing);
 * σ_i = σ(t_i) by linear interpolation in t; with Karras σs, N levels from σ_0 to σ_{N−1} by eq. 5 and t_i read
 * back off them in log σ. Then σ_N = 0. The first latent is N(0, I)·σ_0 for linspace and trailing spacing and
 * N(0, I)·√(σ_0²+1) for leading (diffusers' init_noise_sigma) — in VP terms, times σ_0/√(σ_0²+1), or times 1.
 *
 * @example
 * eulerSchedule(parseSchedulerConfig({ timestep_spacing: 'linspace' }), 3).timesteps; // [999, 499.5, 0]
 */
export const eulerSchedule = (config: SchedulerConfig, numSteps: number, karras = false): SamplerSchedule => {
  const T = config.num_train_timesteps;
  checkStepCount(numSteps, T);
  const train = trainingSigmas(alphasCumprodOf(betaSchedule(config)));
  // numpy.linspace: i·step, the last point pinned to T − 1; one step is just [0].
  const step = numSteps === 1 ? 0 : (T - 1) / (numSteps - 1);
  let timesteps =
    config.timestep_spacing === 'linspace'
      ? Array.from({ length: numSteps }, (_, k) => (numSteps > 1 && k === 0 ? T - 1 : (numSteps - 1 - k) * step))
      : timestepSpacing(config, numSteps);
  let sigmas = timesteps.map((t) => sigmaAt(train, t));
  if (karras) {
    sigmas = karrasSigmas(sigmas[0], sigmas[sigmas.length - 1], sigmas.length);
    timesteps = sigmas.map((s) => timestepOfSigma(s, train));
  }
  const initScale = config.timestep_spacing === 'leading' ? 1 : sigmas[0] * vpScale(sigmas[0]);
  return { timesteps, sigmas: [...sigmas, 0], initScale };
};

/**
 * The Euler step of Karras et al. 2022 (Algorithm 2 without churn, γ = 0) in σ space, on a VP sample x:
 *
 *     x_σ  = x·√(σ²+1)                     (σ-space sample, x_0 + σ·ε)
 *     d    = (x_σ − x̂_0)/σ                 (the probability-flow ODE's dx/dσ, eq. 3)
 *     x_σ' = x_σ + (σ' − σ)·d
 *     x'   = x_σ'/√(σ'²+1)                 (back to VP; at σ' = 0 this is x̂_0)
 *
 * `sigmaTarget` lets Euler-ancestral step to σ_down instead of σ' and add its noise in σ space.
 */
export const eulerUpdate = (
  config: SchedulerConfig,
  input: SamplerStepInput,
  sigmaTarget: number,
  addNoise?: (xSigma: Float32Array) => void,
) => {
  const { modelOutput: m, sample: x, sigmas, index } = input;
  const sigma = sigmas[index];
  const next = sigmas[index + 1];
  const x0 = denoisedFrom(config.prediction_type, m, x, sigma);
  const up = 1 / vpScale(sigma);
  const xs = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xSigma = x[i] * up;
    xs[i] = xSigma + (sigmaTarget - sigma) * ((xSigma - x0[i]) / sigma);
  }
  addNoise?.(xs);
  const down = vpScale(next);
  for (let i = 0; i < xs.length; i++) xs[i] *= down;
  return { prevSample: xs, predOriginal: x0 };
};

/**
 * Euler's method on the probability-flow ODE, numerically diffusers' EulerDiscreteScheduler (k-diffusion's
 * sample_euler) with ε-, v- or x_0-prediction; deterministic.
 *
 * @example
 * const euler = createEuler({ _class_name: 'EulerDiscreteScheduler' });
 * const { timesteps, sigmas, initScale } = euler.schedule(20);
 * let x = noise.map((z) => z * initScale);
 * timesteps.forEach((t, index) => (x = euler.step({ modelOutput: unet(x, t), sample: x, sigmas, index }).prevSample));
 */
export const createEuler = (config: SchedulerConfig | Record<string, unknown> = {}, o: EulerOptions = {}): Sampler => {
  const cfg = parseSchedulerConfig(config);
  const karras = o.karras ?? cfg.use_karras_sigmas;
  return {
    config: cfg,
    stochastic: false,
    schedule: perStepCount((n) => eulerSchedule(cfg, n, karras)),
    step: (input) => {
      checkStep('euler', input);
      return eulerUpdate(cfg, input, input.sigmas[input.index + 1]);
    },
  };
};
