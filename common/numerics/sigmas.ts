/**
 * Noise levels for the σ-space samplers (Karras et al. 2022, "Elucidating the Design Space…", EDM). A VP sample
 * x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε is, divided by √ᾱ_t, the σ-space sample x_0 + σ_t·ε with σ_t = √((1−ᾱ_t)/ᾱ_t).
 * All in float64.
 */

/**
 * σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep t: increasing in t (SD: 0.0292 … 14.61). A zero-terminal-SNR
 * schedule (rescale_betas_zero_snr) ends on ᾱ = 0, an infinite σ; like diffusers, ᾱ is held at 2⁻²⁴ (float16's
 * smallest subnormal) there, which makes that σ ≈ 4096.
 *
 * @example
 * trainingSigmas(Float64Array.of(0.8, 0.5)); // [0.5, 1]
 */
export const trainingSigmas = (alphasCumprod: Float64Array): Float64Array =>
  alphasCumprod.map((a) => Math.max(a, 2 ** -24)).map((a) => Math.sqrt((1 - a) / a));

/**
 * σ at a fractional timestep: linear interpolation between the two training timesteps around `t` (numpy.interp
 * over 0 … T−1, held at the ends), which is how diffusers' Euler schedulers read σ off a "linspace" timestep.
 *
 * @example
 * sigmaAt(Float64Array.of(0.5, 1), 0.25); // 0.625
 */
export const sigmaAt = (sigmas: Float64Array, t: number): number => {
  if (t <= 0) return sigmas[0];
  if (t >= sigmas.length - 1) return sigmas[sigmas.length - 1];
  const lo = Math.floor(t);
  return sigmas[lo] + (sigmas[lo + 1] - sigmas[lo]) * (t - lo);
};

/**
 * The timestep whose σ is `sigma`: interpolation in log σ between the two training timesteps around it (clamped to
 * 0 … T−1). Karras σs fall between training timesteps, so the UNet is told a fractional one; models with an
 * integer timestep input get it rounded (weights/unet-io.ts).
 *
 * @example
 * timestepOfSigma(Math.SQRT1_2, Float64Array.of(0.5, 1)); // 0.5 (log σ halfway between log 0.5 and log 1)
 */
export const timestepOfSigma = (sigma: number, sigmas: Float64Array): number => {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // The last training timestep whose log σ is ≤ log σ (0 when there is none), kept below T−1 so it has a neighbour.
  let lo = 0;
  for (let t = 0; t < sigmas.length; t++) if (Math.log(sigmas[t]) <= logSigma) lo = t;
  lo = Math.min(lo, sigmas.length - 2);
  const low = Math.log(sigmas[lo]);
  const high = Math.log(sigmas[lo + 1]);
  const w = Math.min(Math.max((low - logSigma) / (low - high), 0), 1);
  return (1 - w) * lo + w * (lo + 1);
};

/**
 * Karras et al. 2022 eq. 5: n levels from σ_max down to σ_min evenly spaced in σ^(1/ρ),
 * σ_i = (σ_max^(1/ρ) + i/(n−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, ρ = 7 — more steps at low noise, where detail forms.
 *
 * @example
 * karrasSigmas(16, 1, 2, 2); // [16, 1]
 */
export const karrasSigmas = (sigmaMax: number, sigmaMin: number, n: number, rho = 7): number[] => {
  const maxInv = sigmaMax ** (1 / rho);
  const minInv = sigmaMin ** (1 / rho);
  return Array.from({ length: n }, (_, i) => (maxInv + (n === 1 ? 0 : i / (n - 1)) * (minInv - maxInv)) ** rho);
};

/**
 * How the model's input is scaled at σ: α = 1/√(σ²+1) (`scale_model_input`). It turns the σ-space sample x_0 + σ·ε
 * back into the VP sample the UNet was trained on, √ᾱ·x_0 + √(1−ᾱ)·ε, since √ᾱ = 1/√(σ²+1).
 *
 * @example
 * vpScale(0); // 1
 */
export const vpScale = (sigma: number): number => 1 / Math.sqrt(sigma * sigma + 1);
