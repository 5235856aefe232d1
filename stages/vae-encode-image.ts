import { concatMap, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import { rgbaToTensor } from '../common/image/image.ts';
import { createRng } from '../common/numerics/rng.ts';
import type { ImageItem, LatentItem } from '../common/stream-items.ts';
import type { Session } from '../weights/session.ts';
import { tensor } from '../common/tensor.ts';
import { runVaeEncoder } from '../weights/vae-io.ts';

/** How images become latents. */
export interface VaeEncodeImageOptions {
  readonly scalingFactor: number;
  readonly channels: number;
  /** The model's downsampling factor: image sides must be multiples of it. */
  readonly vaeScale: number;
  /** 'mean' takes the posterior's mode (deterministic); 'sample' draws z ~ N(mean, std²) from `seed` + index. */
  readonly sample: 'mean' | 'sample';
  readonly seed: number;
}

/**
 * Image → z = s·E(x): the VAE encoder on the pixels in [−1, 1], then the posterior's mean (or a draw from it;
 * diffusers' DiagonalGaussianDistribution clamps logvar to [−30, 20]) times the scaling factor s.
 * @throws PipelineError('shape_mismatch') when a side is not a multiple of the model's VAE scale.
 * @example images$.pipe(vaeEncodeImage(encoder, { scalingFactor: 0.18215, channels: 4, vaeScale: 8, sample: 'mean',
 * seed: 0 }))
 */
export const vaeEncodeImage = (encoder: Session, o: VaeEncodeImageOptions): OperatorFunction<ImageItem, LatentItem> =>
  concatMap(async (item) => {
    const { width, height } = item.image;
    if (width % o.vaeScale || height % o.vaeScale)
      throw new PipelineError(
        'shape_mismatch',
        `'${item.name}' is ${width}×${height}; the VAE needs sides that are multiples of ${o.vaeScale} (set decode-image's resolution)`,
      );
    const out = await runVaeEncoder(encoder, rgbaToTensor(item.image));
    const n = o.channels * (height / o.vaeScale) * (width / o.vaeScale);
    const z = out.value.data.slice(0, n);
    if (out.kind === 'parameters' && o.sample === 'sample') {
      const eps = createRng(o.seed + item.index)
        .fork('vae-encode')
        .fillNormal(new Float32Array(n));
      for (let i = 0; i < n; i++) z[i] += Math.exp(0.5 * Math.min(20, Math.max(-30, out.value.data[n + i]))) * eps[i];
    }
    for (let i = 0; i < n; i++) z[i] *= o.scalingFactor;
    return {
      index: item.index,
      name: item.name,
      timestep: 0,
      latents: tensor('float32', [1, o.channels, height / o.vaeScale, width / o.vaeScale], z),
    };
  });
