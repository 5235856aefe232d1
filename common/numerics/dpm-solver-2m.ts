import { PipelineError } from '../errors.ts';
import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import {
  checkStep,
  checkStepCount,
  denoisedFrom,
  perStepCount,
  type Sampler,
  type SamplerSchedule,
} from './sampler.ts';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.ts';
import { karrasSigmas, sigmaAt, timestepOfSigma, trainingSigmas, vpScale } from './sigmas.ts';
import { roundHalfEven, timestepSpacing } from './timestep-spacing.ts';

/** Options of DPM-Solver++ 2M. */
export interface DpmSolver2mOptions {
  /** Karras σs (ρ = 7) over the whole training range; default: the config's use_karras_sigmas. */
  readonly karras?: boolean;
}

/**
 * The integer timesteps and σs diffusers' DPMSolverMultistepScheduler walks in N steps. Its spacings lay out N+1
 * points and drop the last (t = 0):
 * - `linspace`: round(i·(T−1)/N) for i = N … 1;
 * - `leading`:  i·⌊T/(N+1)⌋ + steps_offset for i = N … 1;
 * - `trailing`: as DDIM's (round(T − j·T/N) − 1);
 * σ_i = σ(t_i). With Karras σs: N levels from σ(T−1) down to σ(0) by eq. 5, and t_i = round(t(σ_i)) (unrounded
 * for the cosine schedule). Then σ_N = 0. The first latent is plain N(0, I) (init_noise_sigma 1).
 *
 * @example
 * dpmSchedule(parseSchedulerConfig({ timestep_spacing: 'linspace' }), 2).timesteps; // [999, 500]
 */
export const dpmSchedule = (config: SchedulerConfig, numSteps: number, karras = false): SamplerSchedule => {
  const T = config.num_train_timesteps;
  checkStepCount(numSteps, T);
  const train = trainingSigmas(alphasCumprodOf(betaSchedule(config)));
  const points = Array.from({ length: numSteps }, (_, k) => numSteps - k); // N … 1
  let timesteps: number[];
  if (config.timestep_spacing === 'linspace') {
    const step = (T - 1) / numSteps;
    timesteps = points.map((i) => (i === numSteps ? T - 1 : roundHalfEven(i * step)));
  } else if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(T / (numSteps + 1));
    timesteps = points.map((i) => i * ratio + config.steps_offset);
  } else timesteps = timestepSpacing(config, numSteps);
  const bad = timesteps.find((t) => t < 0 || t >= T);
  if (bad !== undefined)
    throw new PipelineError('bad_model', `timestep ${bad} falls outside 0..${T - 1}; check steps_offset`);
  let sigmas = timesteps.map((t) => sigmaAt(train, t));
  if (karras) {
    sigmas = karrasSigmas(train[T - 1], train[0], numSteps);
    const round = config.beta_schedule !== 'squaredcos_cap_v2';
    timesteps = sigmas.map((s) => timestepOfSigma(s, train)).map((t) => (round ? roundHalfEven(t) : t));
  }
  return { timesteps, sigmas: [...sigmas, 0], initScale: 1 };
};

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), data prediction, midpoint form — numerically
 * diffusers' DPMSolverMultistepScheduler with its defaults (solver_order 2, lower_order_final, final σ 0). In VP
 * terms α = 1/√(σ²+1), s = σ·α, λ = log(α/s) = −log σ; stepping σ → σ' with h = λ' − λ = log(σ/σ'):
 *
 *     x' = (s'/s)·x − α'·(e^(−h) − 1)·D,      e^(−h) = σ'/σ
 *     D  = x̂_0                                  first order (the first step, and the last, to σ' = 0)
 *     D  = x̂_0 + (x̂_0 − x̂_0,prev)/(2r)         second order, r = h_prev/h, h_prev = log(σ_prev/σ)
 *
 * The second-order term reuses the previous step's x̂_0, so it costs no extra model call.
 *
 * @example
 * const dpm = createDpmSolver2m({ _class_name: 'DPMSolverMultistepScheduler' }, { karras: true });
 * const { timesteps, sigmas } = dpm.schedule(20);
 * let x = noise, prev;
 * timesteps.forEach((t, index) => {
 *   const r = dpm.step({ modelOutput: unet(x, t), sample: x, sigmas, index, previousDenoised: prev });
 *   x = r.prevSample; prev = r.predOriginal;
 * });
 */
export const createDpmSolver2m = (
  config: SchedulerConfig | Record<string, unknown> = {},
  o: DpmSolver2mOptions = {},
): Sampler => {
  const cfg = parseSchedulerConfig(config);
  const karras = o.karras ?? cfg.use_karras_sigmas;
  return {
    config: cfg,
    stochastic: false,
    schedule: perStepCount((n) => dpmSchedule(cfg, n, karras)),
    step: (input) => {
      checkStep('dpm++2m', input);
      const { modelOutput: m, sample: x, sigmas, index } = input;
      const sigma = sigmas[index];
      const next = sigmas[index + 1];
      const x0 = denoisedFrom(cfg.prediction_type, m, x, sigma);
      const prev = index > 0 && next > 0 ? input.previousDenoised : undefined;
      // At σ' = 0: α' = 1, s' = 0, e^(−h) = 0, so x' = x̂_0 exactly.
      const ratio = (next * vpScale(next)) / (sigma * vpScale(sigma));
      const coef = -vpScale(next) * (next / sigma - 1);
      const half = prev ? 1 / (2 * (Math.log(sigmas[index - 1] / sigma) / Math.log(sigma / next))) : 0;
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const d = prev ? x0[i] + half * (x0[i] - prev[i]) : x0[i];
        out[i] = ratio * x[i] + coef * d;
      }
      return { prevSample: out, predOriginal: x0 };
    },
  };
};
