import { PipelineError } from '../errors.ts';
import { alphasCumprodOf, betaSchedule } from './beta-schedule.ts';
import { parseSchedulerConfig, type SchedulerConfig } from './scheduler-config.ts';
import { timestepSpacing } from './timestep-spacing.ts';

/** One DDIM update's inputs; all arrays are flat NCHW data of the same length. */
export interface DdimStepInput {
  /** What the UNet predicted at `timestep` (ε, v or x_0 per `prediction_type`), after guidance. */
  readonly modelOutput: Float32Array;
  /** A training timestep from `timesteps(numSteps)`. */
  readonly timestep: number;
  /** x_t, the current latent. */
  readonly sample: Float32Array;
  /** η: 0 is deterministic DDIM, 1 is DDPM-like ancestral noise. */
  readonly eta?: number;
  /** Standard-normal noise for the σ_t·z term; required when η > 0 (draw it from a seeded rng). */
  readonly noise?: Float32Array;
  /** N of the schedule being walked; defaults to the last `timesteps(N)` call, as diffusers' set_timesteps. */
  readonly numSteps?: number;
  /** Samples in the batch, for per-sample dynamic thresholding; 1 by default. */
  readonly batch?: number;
  /** Re-derive ε from the clipped x̂_0 (diffusers' use_clipped_model_output, off in its SD pipelines). */
  readonly useClippedModelOutput?: boolean;
}

/** One DDIM update's results. */
export interface DdimStepOutput {
  /** x_{t−Δ}, the next latent. */
  readonly prevSample: Float32Array;
  /** x̂_0 after clipping / thresholding: what a live preview shows. */
  readonly predOriginal: Float32Array;
}

/** A timestep for the whole batch, or one per sample (the data splits evenly into `t.length` samples). */
export type Timesteps = number | readonly number[];

/** What `createDdim` returns: diffusers' DDIMScheduler as plain functions over Float32Array data. */
export interface Ddim {
  readonly config: SchedulerConfig;
  /** ᾱ_t for t = 0 … T−1, in float64. */
  readonly alphasCumprod: Float64Array;
  /** ᾱ used after the last step: 1 when set_alpha_to_one, else ᾱ_0. */
  readonly finalAlphaCumprod: number;
  timesteps(numSteps: number): number[];
  step(input: DdimStepInput): DdimStepOutput;
  addNoise(x0: Float32Array, noise: Float32Array, t: Timesteps): Float32Array;
  velocity(x0: Float32Array, noise: Float32Array, t: Timesteps): Float32Array;
  predictionTarget(x0: Float32Array, noise: Float32Array, t: Timesteps): Float32Array;
}

const mismatch = (what: string, a: number, b: number) =>
  new PipelineError('shape_mismatch', `${what}: ${a} elements where ${b} were expected`);

/** Dynamic thresholding (Imagen, Saharia et al. 2022): per sample, s = clamp(q-quantile of |x|, 1, max); x ← clamp(x,
 * −s, s)/s. */
const threshold = (x: Float32Array, batch: number, ratio: number, max: number): void => {
  if (x.length % batch !== 0)
    throw mismatch(`thresholding over batch ${batch}`, x.length, batch * Math.ceil(x.length / batch));
  const n = x.length / batch;
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * n, (b + 1) * n);
    const abs = Float64Array.from(row, Math.abs).sort();
    // torch.quantile's linear interpolation between the two order statistics around q·(n−1).
    const pos = ratio * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    const s = Math.min(Math.max(abs[lo] + (abs[hi] - abs[lo]) * (pos - lo), 1), max);
    for (let i = 0; i < n; i++) row[i] = Math.min(Math.max(row[i], -s), s) / s;
  }
};

/**
 * Builds a DDIM sampler (Song et al. 2021, eq. 12 and 16) numerically equal to diffusers' DDIMScheduler.
 * With Δ = ⌊T/N⌋, ᾱ = ᾱ_t, ᾱ' = ᾱ_{t−Δ} (or `finalAlphaCumprod` below 0), and ε̂, x̂_0 from the model output:
 *
 *     σ_t   = η · √((1−ᾱ')/(1−ᾱ)) · √(1 − ᾱ/ᾱ')
 *     x_{t−Δ} = √ᾱ'·x̂_0 + √(1 − ᾱ' − σ_t²)·ε̂ + σ_t·z
 *
 * Coefficients are float64; data stays Float32Array.
 *
 * @example
 * const ddim = createDdim({ steps_offset: 1, clip_sample: false });
 * let x = noise;
 * for (const t of ddim.timesteps(50)) x = ddim.step({ modelOutput: unet(x, t), timestep: t, sample: x }).prevSample;
 */
export const createDdim = (config: SchedulerConfig | Record<string, unknown> = {}): Ddim => {
  const cfg = parseSchedulerConfig(config);
  const T = cfg.num_train_timesteps;
  const alphasCumprod = alphasCumprodOf(betaSchedule(cfg));
  const finalAlphaCumprod = cfg.set_alpha_to_one ? 1 : alphasCumprod[0];
  let lastSteps: number | undefined;

  const alphaAt = (t: number): number => {
    if (!Number.isInteger(t) || t < 0 || t >= T) {
      throw new PipelineError('bad_request', `timestep ${t} is not an integer in 0..${T - 1}`);
    }
    return alphasCumprod[t];
  };

  // out_i = a(t)·x_i + b(t)·y_i, with t chosen per sample when `t` is a list.
  const mix = (x: Float32Array, y: Float32Array, t: Timesteps, coef: (ab: number) => [number, number]) => {
    if (x.length !== y.length) throw mismatch('noise and sample differ', y.length, x.length);
    const ts = typeof t === 'number' ? [t] : t;
    if (ts.length === 0 || x.length % ts.length !== 0)
      throw mismatch(`data for ${ts.length} timesteps`, x.length, ts.length);
    const n = x.length / ts.length;
    const out = new Float32Array(x.length);
    ts.forEach((tb, b) => {
      const [a, c] = coef(alphaAt(tb));
      for (let i = b * n; i < (b + 1) * n; i++) out[i] = a * x[i] + c * y[i];
    });
    return out;
  };

  // z_t = √ᾱ·x_0 + √(1−ᾱ)·ε (the forward process, DDPM eq. 4).
  const addNoise = (x0: Float32Array, noise: Float32Array, t: Timesteps) =>
    mix(x0, noise, t, (ab) => [Math.sqrt(ab), Math.sqrt(1 - ab)]);
  // v = √ᾱ·ε − √(1−ᾱ)·x_0 (Salimans & Ho 2022), the SD2-768 target.
  const velocity = (x0: Float32Array, noise: Float32Array, t: Timesteps) =>
    mix(noise, x0, t, (ab) => [Math.sqrt(ab), -Math.sqrt(1 - ab)]);
  const predictionTarget = (x0: Float32Array, noise: Float32Array, t: Timesteps) =>
    cfg.prediction_type === 'epsilon'
      ? Float32Array.from(noise)
      : cfg.prediction_type === 'v_prediction'
        ? velocity(x0, noise, t)
        : Float32Array.from(x0);

  const timesteps = (numSteps: number) => {
    const ts = timestepSpacing(cfg, numSteps);
    lastSteps = numSteps;
    return ts;
  };

  const step = (input: DdimStepInput): DdimStepOutput => {
    const { modelOutput: m, sample: x, timestep: t, eta = 0 } = input;
    const N = input.numSteps ?? lastSteps;
    if (N === undefined)
      throw new PipelineError('bad_request', 'ddim.step needs numSteps: call timesteps(numSteps) first or pass it');
    if (m.length !== x.length) throw mismatch('model output and sample differ', m.length, x.length);
    const at = alphaAt(t);
    const prev = t - Math.floor(T / N);
    const ap = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod;
    const sa = Math.sqrt(at);
    const sb = Math.sqrt(1 - at);
    const x0 = new Float32Array(x.length);
    const eps = new Float32Array(x.length);
    // x̂_0 and ε̂ from the three parameterisations of x_t = √ᾱ·x_0 + √(1−ᾱ)·ε.
    for (let i = 0; i < x.length; i++) {
      if (cfg.prediction_type === 'epsilon') {
        x0[i] = (x[i] - sb * m[i]) / sa;
        eps[i] = m[i];
      } else if (cfg.prediction_type === 'sample') {
        x0[i] = m[i];
        eps[i] = (x[i] - sa * m[i]) / sb;
      } else {
        x0[i] = sa * x[i] - sb * m[i];
        eps[i] = sa * m[i] + sb * x[i];
      }
    }
    if (cfg.thresholding) threshold(x0, input.batch ?? 1, cfg.dynamic_thresholding_ratio, cfg.sample_max_value);
    else if (cfg.clip_sample) {
      const r = cfg.clip_sample_range;
      for (let i = 0; i < x0.length; i++) x0[i] = Math.min(Math.max(x0[i], -r), r);
    }
    if (input.useClippedModelOutput) for (let i = 0; i < x.length; i++) eps[i] = (x[i] - sa * x0[i]) / sb;

    const sigma = eta * Math.sqrt(((1 - ap) / (1 - at)) * (1 - at / ap));
    // 1 − ᾱ' − σ² ≥ 0 for η ≤ 1; the max only stops a rounding error from becoming NaN.
    const dir = Math.sqrt(Math.max(0, 1 - ap - sigma * sigma));
    const sap = Math.sqrt(ap);
    const z = input.noise;
    if (eta > 0 && !z) throw new PipelineError('bad_request', `ddim.step with eta ${eta} needs noise`);
    if (eta > 0 && z && z.length !== x.length) throw mismatch('variance noise', z.length, x.length);
    const prevSample = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      prevSample[i] = sap * x0[i] + dir * eps[i] + (eta > 0 ? sigma * z![i] : 0);
    }
    return { prevSample, predOriginal: x0 };
  };

  return { config: cfg, alphasCumprod, finalAlphaCumprod, timesteps, step, addNoise, velocity, predictionTarget };
};
