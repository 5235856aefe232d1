import { map, type OperatorFunction } from 'rxjs';
import type { Conditioned, Denoising } from '../common/generate-state.ts';
import { createRng } from '../common/numerics/rng.ts';
import { tensor } from '../common/tensor.ts';

/**
 * Draws the starting latent x_T ~ N(0, I) from the request's seed. The generator is our own integer-only
 * xoshiro, so the same seed gives the same image on Bun, Deno and Node. DDIM's initial noise sigma is 1; a
 * σ-space sampler may ask for its own (`scale`, the VP form of diffusers' init_noise_sigma).
 */
export const initialNoise = (o: {
  channels: number;
  vaeScale: number;
  timesteps: (n: number) => readonly number[];
  scale?: (n: number) => number;
}): OperatorFunction<Conditioned, Denoising> =>
  map((job) => {
    const h = job.height / o.vaeScale;
    const w = job.width / o.vaeScale;
    const data = createRng(job.request.seed)
      .fork('initial-noise')
      .fillNormal(new Float32Array(o.channels * h * w));
    const scale = o.scale?.(job.request.steps) ?? 1;
    if (scale !== 1) for (let i = 0; i < data.length; i++) data[i] *= scale;
    const remaining = o.timesteps(job.request.steps);
    return {
      ...job,
      step: 0,
      of: remaining.length,
      remaining,
      timestep: remaining[0],
      latents: tensor('float32', [1, o.channels, h, w], data),
    };
  });
