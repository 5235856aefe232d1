import { map, type OperatorFunction } from 'rxjs';
import type { Denoising, Predicted } from '../common/generate-state.ts';
import type { Ddim } from '../common/numerics/ddim.ts';
import { createRng } from '../common/numerics/rng.ts';
import { tensor } from '../common/tensor.ts';

/**
 * One DDIM update x_t → x_{t−Δ} (diffusers' DDIMScheduler numerics). With η > 0 the σ_t·z noise comes from a
 * stream forked off the seed per step, so stochastic runs reproduce too. `eta` overrides the request's η
 * (η = 1 is the DDPM-like ancestral sampler).
 */
export const ddimStep = (ddim: Ddim, o: { eta?: number } = {}): OperatorFunction<Predicted, Denoising> =>
  map(({ prediction, ...s }) => {
    const t = s.remaining[0];
    const eta = o.eta ?? s.request.eta;
    const noise =
      eta > 0
        ? createRng(s.request.seed).fork(`ddim-eta-${s.step}`).fillNormal(new Float32Array(s.latents.data.length))
        : undefined;
    const r = ddim.step({
      modelOutput: prediction.data,
      timestep: t,
      sample: s.latents.data,
      eta,
      noise,
      numSteps: s.of,
    });
    return {
      ...s,
      step: s.step + 1,
      timestep: t,
      remaining: s.remaining.slice(1),
      latents: tensor('float32', s.latents.dims, r.prevSample),
      x0: tensor('float32', s.latents.dims, r.predOriginal),
    };
  });
