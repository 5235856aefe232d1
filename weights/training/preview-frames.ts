import type { Frame } from '../../common/frames.ts';
import { encodePng } from '../../common/image/png.ts';
import { latentToRgb } from '../../common/numerics/latent-rgb.ts';
import type { TrainContext } from './train-context.ts';
import { tensor } from '../../common/tensor.ts';

/**
 * Previews of a training sample: the noised latent x_t and the clean latent the UNet implies,
 *   ε-prediction: x̂₀ = (x_t − √(1−ᾱ)·ε̂)/√ᾱ     v-prediction: x̂₀ = √ᾱ·x_t − √(1−ᾱ)·v̂
 * both through the linear latent→RGB map (no VAE run), after undoing the VAE scaling factor's size.
 */
export const previewFrames = async (
  ctx: TrainContext,
  step: number,
  first: { noisy: Float32Array; alphaBar: number },
  prediction: Float32Array,
): Promise<Frame[]> => {
  const [C, h, w] = ctx.latentDims;
  const n = C * h * w;
  const ab = first.alphaBar;
  const pt = ctx.model.scheduler.prediction_type;
  const x0 = new Float32Array(n);
  for (let i = 0; i < n; i++)
    x0[i] =
      pt === 'v_prediction'
        ? Math.sqrt(ab) * first.noisy[i] - Math.sqrt(1 - ab) * prediction[i]
        : pt === 'sample'
          ? prediction[i]
          : (first.noisy[i] - Math.sqrt(1 - ab) * prediction[i]) / Math.sqrt(ab);
  const info = ctx.model.info;
  const factors = info.previewFactors
    ? {
        factors: info.previewFactors as [number, number, number][],
        bias: info.previewBias as [number, number, number] | undefined,
      }
    : info.family === 'unknown' || info.family === 'tiny'
      ? ('sd1' as const)
      : info.family;
  const frame = async (kind: 'noised' | 'predicted', data: Float32Array): Promise<Frame> => {
    const rgb = latentToRgb(tensor('float32', [C, h, w], data), factors);
    const png = await encodePng({
      width: rgb.width,
      height: rgb.height,
      channels: 4,
      data: new Uint8Array(rgb.rgba.buffer),
    });
    return {
      type: 'preview',
      runId: ctx.runId,
      step,
      of: ctx.request.steps,
      kind,
      width: rgb.width,
      height: rgb.height,
      format: 'png',
      data: png,
    };
  };
  // 'predicted', not 'x0': validation's denoising previews are 'x0', and a slow client keeps only the newest
  // preview of each kind, so the two must not share one.
  return [await frame('noised', first.noisy), await frame('predicted', x0)];
};
