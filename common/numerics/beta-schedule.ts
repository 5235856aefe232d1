import type { SchedulerConfig } from './scheduler-config.ts';

/**
 * `n` evenly spaced numbers from `a` to `b` inclusive, filled from both ends the way torch.linspace does
 * (first half `a + i·step`, second half `b − (n−1−i)·step`), so both endpoints are exact.
 */
const linspace = (a: number, b: number, n: number): Float64Array => {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = a;
    return out;
  }
  const step = (b - a) / (n - 1);
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i);
  return out;
};

/**
 * GLIDE's cosine schedule (Nichol & Dhariwal 2021): ᾱ(τ) = cos²((τ + 0.008)/1.008 · π/2) and
 * βᵢ = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999), the cap keeping the last steps away from β = 1.
 */
const cosineBetas = (n: number): Float64Array => {
  const alphaBar = (tau: number) => Math.cos(((tau + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  return out;
};

/**
 * Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are Flawed", alg. 1): shift and scale
 * √ᾱ so that √ᾱ_{T−1} = 0 (zero terminal SNR) while √ᾱ_0 keeps its value, then read the betas back off
 * the new ᾱ: α_0 = ᾱ_0, α_i = ᾱ_i/ᾱ_{i−1}, β = 1 − α.
 */
const rescaleZeroTerminalSnr = (betas: Float64Array): Float64Array => {
  const root = alphasCumprodOf(betas).map(Math.sqrt);
  const first = root[0];
  const last = root[root.length - 1];
  const bar = root.map((r) => ((r - last) * first) / (first - last)).map((r) => r * r);
  return bar.map((a, i) => 1 - (i === 0 ? a : a / bar[i - 1]));
};

/**
 * The betas (per-step noise variances) a diffusers scheduler derives from its config, in float64:
 * `trained_betas` verbatim if given; `linear` = linspace(β_start, β_end, T); `scaled_linear` (the LDM / SD
 * schedule) = linspace(√β_start, √β_end, T)²; `squaredcos_cap_v2` = the GLIDE cosine schedule.
 *
 * @example
 * const b = betaSchedule(parseSchedulerConfig({})); // b[0] = 0.00085, b[999] = 0.012
 */
export const betaSchedule = (config: SchedulerConfig): Float64Array => {
  const n = config.num_train_timesteps;
  let betas: Float64Array;
  if (config.trained_betas != null) betas = Float64Array.from(config.trained_betas);
  else if (config.beta_schedule === 'linear') betas = linspace(config.beta_start, config.beta_end, n);
  else if (config.beta_schedule === 'scaled_linear') {
    betas = linspace(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((r) => r * r);
  } else betas = cosineBetas(n);
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
};

/**
 * ᾱ_t = ∏_{s≤t} (1 − β_s): the fraction of signal variance left at step t, so that
 * x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε.
 *
 * @example
 * alphasCumprodOf(Float64Array.of(0.1, 0.2)); // [0.9, 0.72]
 */
export const alphasCumprodOf = (betas: Float64Array): Float64Array => {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) out[i] = acc *= 1 - betas[i];
  return out;
};
