/**
 * Pairs of what the x̂₀ preview is drawn from and what it should resemble: a generation's last latent (as the
 * sampler hands it to the VAE, scaled) and the image the VAE decodes from it, as floats in [−1, 1], channels
 * first. test/latent-preview.test.ts compares the preview drawn with the model's factors to those images.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { tensorFromWire, type FrameOf } from '../../common/frames.ts';
import { decodePng } from '../../common/image/png.ts';
import { latentToRgb, type LatentFamily, type LatentRgbFactors } from '../../common/numerics/latent-rgb.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import type { SdModel } from '../../weights/model-folder.ts';

/** Prompts of the shape world the tiny model was trained on: varied colours, shapes and backgrounds. */
export const worldPrompts = [
  'a photo of a red circle',
  'a blue square on a yellow background',
  'a green star',
  'a photo of a yellow triangle',
  'a red star on a blue background',
  'a purple circle on a white background',
  'an orange square',
  'a white triangle on a black background',
];

export interface PreviewPairs {
  /** Latents [count, C, h, h]. */
  latents: Float32Array;
  /** Decoded images [count, 3, h·scale, h·scale] in [−1, 1]. */
  pixels: Float32Array;
  count: number;
  channels: number;
  /** Latent side. */
  h: number;
  /** Pixels per latent cell. */
  scale: number;
}

/** Generates `seeds.length` images (prompt i cycles through `worldPrompts` from `offset`) and pairs them. */
export const previewPairs = async (model: SdModel, seeds: number[], offset = 0, steps = 20): Promise<PreviewPairs> => {
  const { latentChannels: channels, vaeScale: scale, resolution } = model.info;
  const h = resolution / scale;
  const latents = new Float32Array(seeds.length * channels * h * h);
  const pixels = new Float32Array(seeds.length * 3 * resolution * resolution);
  for (const [n, seed] of seeds.entries()) {
    const prompt = worldPrompts[(n + offset) % worldPrompts.length];
    const request = parseGenerateRequest({ prompt, steps, seed });
    const frames = await lastValueFrom(runGenerate(request, { openModel: async () => model }, {}).pipe(toArray()));
    const last = frames.filter((f): f is FrameOf<'latent'> => f.type === 'latent').at(-1);
    const image = frames.find((f): f is FrameOf<'image'> => f.type === 'image');
    if (!last || !image) throw new Error(`generation ${n} sent no latent or no image`);
    latents.set(tensorFromWire(last.tensor).data as Float32Array, n * channels * h * h);
    const png = await decodePng(image.png);
    const plane = resolution * resolution;
    for (let i = 0; i < plane; i++)
      for (let c = 0; c < 3; c++) pixels[(n * 3 + c) * plane + i] = png.data[i * png.channels + c] / 127.5 - 1;
  }
  return { latents, pixels, count: seeds.length, channels, h, scale };
};

/**
 * The mean absolute difference, in 0..255 steps, between the latent→RGB preview of each latent and its decoded
 * image averaged over each latent cell's block of pixels (the preview has one pixel per cell).
 */
export const previewError = (p: PreviewPairs, factors: LatentFamily | LatentRgbFactors): number => {
  const { h, scale, channels } = p;
  const side = h * scale;
  let sum = 0;
  for (let n = 0; n < p.count; n++) {
    const latent = p.latents.subarray(n * channels * h * h, (n + 1) * channels * h * h);
    const { rgba } = latentToRgb({ dtype: 'float32', dims: [1, channels, h, h], data: latent }, factors);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < h; x++)
        for (let c = 0; c < 3; c++) {
          let mean = 0;
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale; dx++)
              mean += p.pixels[((n * 3 + c) * side + y * scale + dy) * side + x * scale + dx];
          mean = (mean / (scale * scale) + 1) * 127.5;
          sum += Math.abs(rgba[(y * h + x) * 4 + c] - mean);
        }
  }
  return sum / (p.count * h * h * 3);
};
