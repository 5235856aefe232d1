import { map, type OperatorFunction } from 'rxjs';
import type { Ddim } from '../common/numerics/ddim.ts';
import { createRng } from '../common/numerics/rng.ts';
import type { LatentItem } from '../common/stream-items.ts';
import { tensor } from '../common/tensor.ts';

/** How far back towards noise a clean latent is pushed. */
export interface NoiseToStrengthOptions {
  /** 0 keeps the latent as it is, 1 starts from pure noise; in between, SDEdit's t₀. */
  readonly strength: number;
  /** Length of the DDIM schedule the denoiser will follow. */
  readonly steps: number;
  /** Item i's noise comes from seed + i, drawn as the generate pipeline draws its initial noise. */
  readonly seed: number;
}

/**
 * SDEdit (Meng et al. 2022) as diffusers' img2img schedules it: of the N-step DDIM schedule, the last
 * ⌊N·strength⌋ timesteps remain, and the latent is noised to the first of them, z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε.
 * At strength 1 the latent is pure ε — exactly the generate pipeline's initial noise for the same seed, where
 * diffusers would keep a √ᾱ_T trace of the image — so strength 1 is text-to-image.
 * @example latents$.pipe(noiseToStrength(ddim, { strength: 0.6, steps: 50, seed: 0 }))
 */
export const noiseToStrength = (ddim: Ddim, o: NoiseToStrengthOptions): OperatorFunction<LatentItem, LatentItem> =>
  map((item) => {
    const all = ddim.timesteps(o.steps);
    const kept = Math.min(Math.floor(o.steps * o.strength), o.steps);
    const remaining = all.slice(all.length - kept);
    const seed = o.seed + item.index;
    const noise = createRng(seed).fork('initial-noise').fillNormal(new Float32Array(item.latents.data.length));
    const data =
      kept === 0 ? item.latents.data : kept === o.steps ? noise : ddim.addNoise(item.latents.data, noise, remaining[0]);
    return {
      ...item,
      latents: tensor('float32', item.latents.dims, data),
      timestep: remaining[0] ?? item.timestep,
      remaining,
      steps: all.length,
      seed,
    };
  });
