import { concatMap, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import { decodeImage } from '../common/image/decode-image.ts';
import type { CachedLatent } from '../weights/training/train-context.ts';
import type { Session } from '../weights/session.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { runVaeEncoder } from '../weights/vae-io.ts';
import { prepareImagePixels } from './prepare-image.ts';
import { trainingTimeIds } from '../common/train/training-time-ids.ts';

/** A training image as it arrives: file name, bytes, and the caption beside it if any. */
export interface ImageFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly caption?: string;
}

const mirror = (t: Tensor<'float32'>): Tensor<'float32'> => {
  const [, c, h, w] = t.dims;
  const out = new Float32Array(t.data.length);
  for (let k = 0; k < c * h; k++) for (let x = 0; x < w; x++) out[k * w + x] = t.data[k * w + (w - 1 - x)];
  return tensor('float32', t.dims, out);
};

/** mean ‖ logvar (diffusers' DiagonalGaussianDistribution clamps logvar to [−30, 20]) → mean, std. */
const distribution = (
  out: { kind: 'parameters' | 'sample'; value: Tensor<'float32'> },
  channels: number,
): [Float32Array, Float32Array] => {
  const n = out.value.data.length / out.value.dims[1];
  if (out.kind === 'sample') return [out.value.data.slice(), new Float32Array(out.value.data.length)];
  const mean = out.value.data.slice(0, channels * n);
  const std = out.value.data
    .slice(channels * n, 2 * channels * n)
    .map((lv) => Math.exp(0.5 * Math.min(20, Math.max(-30, lv))));
  return [mean, std];
};

/**
 * Decodes each image, center-crops it to the model's resolution and runs the VAE encoder once on it and once on
 * its mirror: training then samples z ~ N(mean, std²) per step without running the encoder again.
 */
export const encodeTrainingImages = (
  encoder: Session,
  o: { resolution: number; channels: number; minSide: number },
): OperatorFunction<ImageFile, CachedLatent> =>
  concatMap(async (f): Promise<CachedLatent> => {
    const img = await decodeImage(f.bytes, f.name);
    if (Math.min(img.width, img.height) < o.minSide)
      throw new PipelineError(
        'bad_image',
        `'${f.name}' is ${img.width}×${img.height}; training images need a shorter side of at least ${o.minSide} px`,
      );
    const pixels = prepareImagePixels(img, {
      resolution: o.resolution,
      crop: 'center',
      flipProbability: 0,
      rng: { int: () => 0, uniform: () => 1 },
    });
    const a = distribution(await runVaeEncoder(encoder, pixels), o.channels);
    const b = distribution(await runVaeEncoder(encoder, mirror(pixels)), o.channels);
    const timeIds = trainingTimeIds(img, o.resolution); // SDXL's micro-conditioning of this crop and its mirror
    return { name: f.name, caption: f.caption, mean: [a[0], b[0]], std: [a[1], b[1]], timeIds };
  });
