import { map, type OperatorFunction } from 'rxjs';
import type { Denoising, Predicted } from '../common/generate-state.ts';
import { createRng } from '../common/numerics/rng.ts';
import type { Sampler } from '../common/numerics/sampler.ts';
import { tensor } from '../common/tensor.ts';

/**
 * One update of a σ-space sampler (Euler, Euler-ancestral, DPM-Solver++ 2M; common/numerics/), the swappable
 * partner of `ddimStep`. The step index is how far the run is into its schedule (`of` − timesteps left), so a
 * latent that starts part-way (image-to-image) finds its σ. The multistep sampler's memory is the state's own x̂₀
 * of the step before; the ancestral sampler's noise is a stream forked off the seed per step, so a seed
 * reproduces a run.
 * @example states$.pipe(denoise(predictNoise(unet), samplerStep(createEuler(model.scheduler), 'euler')))
 */
export const samplerStep = (sampler: Sampler, name: string): OperatorFunction<Predicted, Denoising> =>
  map(({ prediction, ...s }) => {
    const { sigmas } = sampler.schedule(s.of);
    const index = s.of - s.remaining.length;
    const n = s.latents.data.length;
    const r = sampler.step({
      modelOutput: prediction.data,
      sample: s.latents.data,
      sigmas,
      index,
      noise: sampler.stochastic
        ? createRng(s.request.seed).fork(`${name}-${index}`).fillNormal(new Float32Array(n))
        : undefined,
      previousDenoised: index > 0 ? s.x0?.data : undefined,
    });
    return {
      ...s,
      step: s.step + 1,
      timestep: s.remaining[0],
      remaining: s.remaining.slice(1),
      latents: tensor('float32', s.latents.dims, r.prevSample),
      x0: tensor('float32', s.latents.dims, r.predOriginal),
    };
  });
