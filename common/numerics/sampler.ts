/**
 * What the σ-space samplers (Euler, Euler-ancestral, DPM-Solver++ 2M) share: a schedule of N UNet timesteps and N+1
 * noise levels, and a step that works on the VP latent — the UNet's own input, √ᾱ·x_0 + √(1−ᾱ)·ε — so the
 * generate loop, its previews and its latent frames look the same whichever sampler runs. Each step converts to
 * σ space (x_σ = x·√(σ²+1)), takes the paper's update, and converts back with the next σ.
 */
import { PipelineError } from '../errors.ts';
import type { SchedulerConfig } from './scheduler-config.ts';
import { vpScale } from './sigmas.ts';

/** Where a sampler walks: `timesteps[i]` is what the UNet is told at step i, `sigmas[i]` its noise level. */
export interface SamplerSchedule {
  /** N timesteps, descending; fractional where σ falls between training timesteps. */
  readonly timesteps: readonly number[];
  /** N+1 noise levels, descending; the last is 0 (the clean sample). */
  readonly sigmas: readonly number[];
  /** The first latent is N(0, I) noise times this (diffusers' init_noise_sigma, in VP terms). */
  readonly initScale: number;
}

/** One update's inputs; arrays are flat NCHW data of the same length. */
export interface SamplerStepInput {
  /** What the UNet predicted at step `index` (ε, v or x_0 per `prediction_type`), after guidance. */
  readonly modelOutput: Float32Array;
  /** The VP latent at step `index` (what the UNet was given). */
  readonly sample: Float32Array;
  /** The schedule's noise levels (`SamplerSchedule.sigmas`). */
  readonly sigmas: readonly number[];
  /** Which step this is: σ = sigmas[index], σ_next = sigmas[index + 1]. */
  readonly index: number;
  /** Standard-normal noise, for the ancestral sampler. */
  readonly noise?: Float32Array;
  /** x̂_0 of the step before (`predOriginal` of step index − 1), for the multistep sampler. */
  readonly previousDenoised?: Float32Array;
}

/** One update's results. */
export interface SamplerStepOutput {
  /** The VP latent at step index + 1 (the clean sample after the last step). */
  readonly prevSample: Float32Array;
  /** x̂_0: what a live preview shows. */
  readonly predOriginal: Float32Array;
}

/** A σ-space sampler built from a scheduler config. */
export interface Sampler {
  readonly config: SchedulerConfig;
  /** Whether `step` needs `noise`. */
  readonly stochastic: boolean;
  /** The schedule for `numSteps` steps (computed once per N). */
  schedule(numSteps: number): SamplerSchedule;
  step(input: SamplerStepInput): SamplerStepOutput;
}

/**
 * x̂_0 from a VP sample x at noise level σ (α = 1/√(σ²+1), s = σ·α, so x = α·x_0 + s·ε):
 * ε-prediction x̂_0 = (x − s·ε̂)/α; v-prediction (v = α·ε − s·x_0) x̂_0 = α·x − s·v̂; sample-prediction x̂_0 = m.
 * These are diffusers' Euler formulas (x_σ − σ·ε̂ and v̂·(−σ/√(σ²+1)) + x_σ/(σ²+1)) with x_σ = x/α.
 *
 * @example
 * denoisedFrom('epsilon', Float32Array.of(1), Float32Array.of(Math.SQRT1_2), 1); // [0]
 */
export const denoisedFrom = (
  predictionType: SchedulerConfig['prediction_type'],
  m: Float32Array,
  x: Float32Array,
  sigma: number,
): Float32Array => {
  const a = vpScale(sigma);
  const s = sigma * a;
  if (predictionType === 'sample') return Float32Array.from(m);
  if (predictionType === 'v_prediction') return x.map((xi, i) => a * xi - s * m[i]);
  return x.map((xi, i) => (xi - s * m[i]) / a);
};

/**
 * Refuses an update whose arrays or step index do not fit, naming what is wrong.
 * @example checkStep('euler', input) // throws PipelineError('shape_mismatch') when modelOutput and sample differ
 */
export const checkStep = (name: string, input: SamplerStepInput): void => {
  const { modelOutput, sample, sigmas, index } = input;
  if (modelOutput.length !== sample.length)
    throw new PipelineError(
      'shape_mismatch',
      `${name}: model output has ${modelOutput.length} elements, the sample ${sample.length}`,
    );
  if (!Number.isInteger(index) || index < 0 || index >= sigmas.length - 1)
    throw new PipelineError(
      'bad_request',
      `${name}: step ${index} is outside a schedule of ${sigmas.length - 1} steps`,
    );
  for (const extra of [input.noise, input.previousDenoised])
    if (extra && extra.length !== sample.length)
      throw new PipelineError(
        'shape_mismatch',
        `${name}: ${extra.length} elements where ${sample.length} were expected`,
      );
};

/**
 * Memoises a schedule builder per step count: a run asks for the same N at every step.
 * @example const schedule = perStepCount((n) => build(n)); schedule(20) === schedule(20) // true
 */
export const perStepCount = (build: (n: number) => SamplerSchedule) => {
  const cache = new Map<number, SamplerSchedule>();
  return (n: number): SamplerSchedule => {
    let s = cache.get(n);
    if (!s) cache.set(n, (s = build(n)));
    return s;
  };
};

/**
 * Refuses a step count the schedule cannot be built for.
 * @example checkStepCount(50, 1000) // fine; checkStepCount(0, 1000) throws
 */
export const checkStepCount = (numSteps: number, T: number): void => {
  if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > T)
    throw new PipelineError(
      'bad_request',
      `numSteps must be an integer in 1..${T} (num_train_timesteps), got ${numSteps}`,
    );
};
