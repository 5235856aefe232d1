import { map, type OperatorFunction } from 'rxjs';
import { createRng } from '../common/numerics/rng.ts';
import type { LatentItem } from '../common/stream-items.ts';
import { tensor } from '../common/tensor.ts';

/** How far back towards noise a clean latent is pushed. */
export interface NoiseToStrengthOptions {
  /** 0 keeps the latent as it is, 1 starts from pure noise; in between, SDEdit's t₀. */
  readonly strength: number;
  /** Length of the sampler's schedule the denoiser will follow. */
  readonly steps: number;
  /** Item i's noise comes from seed + i, drawn as the generate pipeline draws its initial noise. */
  readonly seed: number;
}

/** What noising needs of a sampler: its schedule, and how it noises a clean latent to step `index` of it. */
export interface NoiseSchedule {
  timesteps(numSteps: number): readonly number[];
  /** The VP latent at step `index`: √ᾱ_t·z₀ + √(1−ᾱ_t)·ε for DDIM, α·z₀ + σα·ε (α = 1/√(σ²+1)) in σ space. */
  noiseTo(x0: Float32Array, noise: Float32Array, index: number, numSteps: number): Float32Array;
  /** The first latent of a full run is N(0, I) times this. */
  initScale(numSteps: number): number;
}

/**
 * SDEdit (Meng et al. 2022) as diffusers' img2img schedules it: of the sampler's N-step schedule, the last
 * ⌊N·strength⌋ timesteps remain, and the latent is noised to the first of them, z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε.
 * At strength 1 the latent is pure ε (times the sampler's initial scale) — exactly the generate pipeline's initial
 * noise for the same seed, where diffusers would keep a √ᾱ_T trace of the image — so strength 1 is text-to-image.
 * @example latents$.pipe(noiseToStrength(samplerStages({ use: 'ddim' }, cfg), { strength: 0.6, steps: 50, seed: 0 }))
 */
export const noiseToStrength = (
  sampler: NoiseSchedule,
  o: NoiseToStrengthOptions,
): OperatorFunction<LatentItem, LatentItem> =>
  map((item) => {
    const all = sampler.timesteps(o.steps);
    const kept = Math.min(Math.floor(o.steps * o.strength), o.steps);
    const start = all.length - kept;
    const remaining = all.slice(start);
    const seed = o.seed + item.index;
    const noise = createRng(seed).fork('initial-noise').fillNormal(new Float32Array(item.latents.data.length));
    const scale = sampler.initScale(o.steps);
    const data =
      kept === 0
        ? item.latents.data
        : kept === o.steps
          ? noise.map((z) => z * scale)
          : sampler.noiseTo(item.latents.data, noise, start, o.steps);
    return {
      ...item,
      latents: tensor('float32', item.latents.dims, data),
      timestep: remaining[0] ?? item.timestep,
      remaining,
      steps: all.length,
      seed,
    };
  });
