import { concatMap, type OperatorFunction } from 'rxjs';
import type { Denoising, Predicted } from '../common/generate-state.ts';
import type { Session } from '../weights/session.ts';
import { concatBatch, splitBatch } from '../weights/text-encoder-io.ts';
import { runUnet, unetBatchIsFree, type AddedUnetInputs } from '../weights/unet-io.ts';
import { tensor, type Tensor } from '../common/tensor.ts';

/**
 * UNet prediction with classifier-free guidance: p = p_u + g·(p_c − p_u) (Ho & Salimans 2022). Both branches run
 * as one batch of two when the UNet's batch is free; g = 1 needs only the conditional branch. SDXL's added
 * conditioning goes with each branch: the negative prompt's pooled embedding with the uncond branch, the same
 * time ids with both (diffusers' negative_add_time_ids default to add_time_ids).
 */
export const predictNoise = (unet: Session): OperatorFunction<Denoising, Predicted> => {
  // The [uncond; cond] hidden-state batch is the same at every step of a run: stack it once per run, not per step.
  const stacked = new WeakMap<Tensor<'float32'>, Tensor<'float32'>>();
  const both = (s: Denoising) => {
    let h = stacked.get(s.cond);
    if (!h) stacked.set(s.cond, (h = concatBatch([s.uncond, s.cond])));
    return h;
  };
  const stackedAdded = new WeakMap<object, AddedUnetInputs>();
  const bothAdded = ({ added: a }: Denoising) => {
    if (!a) return undefined;
    let x = stackedAdded.get(a);
    if (!x) {
      x = { textEmbeds: concatBatch([a.uncondPooled, a.pooled]), timeIds: concatBatch([a.timeIds, a.timeIds]) };
      stackedAdded.set(a, x);
    }
    return x;
  };
  return concatMap(async (s) => {
    const t = s.remaining[0];
    const g = s.request.guidance;
    const cond = s.added && { textEmbeds: s.added.pooled, timeIds: s.added.timeIds };
    const uncond = s.added && { textEmbeds: s.added.uncondPooled, timeIds: s.added.timeIds };
    if (g === 1) return { ...s, prediction: await runUnet(unet, s.latents, t, s.cond, cond) };
    let pu: Tensor<'float32'>;
    let pc: Tensor<'float32'>;
    if (unetBatchIsFree(unet)) {
      const out = await runUnet(unet, concatBatch([s.latents, s.latents]), t, both(s), bothAdded(s));
      [pu, pc] = splitBatch(out);
    } else {
      pu = await runUnet(unet, s.latents, t, s.uncond, uncond);
      pc = await runUnet(unet, s.latents, t, s.cond, cond);
    }
    const p = new Float32Array(pu.data.length);
    for (let i = 0; i < p.length; i++) p[i] = pu.data[i] + g * (pc.data[i] - pu.data[i]);
    return { ...s, prediction: tensor('float32', pu.dims, p) };
  });
};
