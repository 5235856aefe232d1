import { PipelineError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

/** A linear latent → RGB map: one [R, G, B] row per latent channel, plus an optional RGB bias. */
export interface LatentRgbFactors {
  readonly factors: readonly (readonly [number, number, number])[];
  readonly bias?: readonly [number, number, number];
}

/** Model families with published factors, and `tiny` for the project's own small model. */
export type LatentFamily = 'sd1' | 'sd2' | 'sdxl' | 'tiny';

/** ComfyUI `comfy/latent_formats.py`, class SD15 (fitted against the SD1.x VAE decoder). */
const SD15: LatentRgbFactors = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
};

/**
 * Published linear previews per family:
 * - `sd1`: ComfyUI `comfy/latent_formats.py` SD15.
 * - `sd2`: the same SD15 factors — SD2.x shares SD1's VAE, and ComfyUI's `comfy/supported_models.py` gives
 *   SD20 `latent_format = latent_formats.SD15`.
 * - `sdxl`: ComfyUI `comfy/latent_formats.py` SDXL, whose factors come with a bias [0.1084, −0.0175, −0.0011].
 * - `tiny`: no fitted factors exist for the project's self-built model, so `factorsFor` shows its first three
 *   channels as R, G, B (one channel: grey), which at least displays the latent faithfully.
 */
export const latentRgbFactors: Readonly<Record<Exclude<LatentFamily, 'tiny'>, LatentRgbFactors>> = {
  sd1: SD15,
  sd2: SD15,
  sdxl: {
    factors: [
      [0.3651, 0.4232, 0.4341],
      [-0.2533, -0.0042, 0.1068],
      [0.1076, 0.1111, -0.0362],
      [-0.3165, -0.2492, -0.2188],
    ],
    bias: [0.1084, -0.0175, -0.0011],
  },
};

const identityFactors = (channels: number): LatentRgbFactors => ({
  factors: Array.from({ length: channels }, (_, c) =>
    channels === 1 ? ([1, 1, 1] as const) : ([c === 0 ? 1 : 0, c === 1 ? 1 : 0, c === 2 ? 1 : 0] as const),
  ),
});

/** Resolves a family name (or explicit factors) to factors for a latent with `channels` channels. */
const factorsFor = (family: LatentFamily | LatentRgbFactors, channels: number): LatentRgbFactors =>
  family === 'tiny' ? identityFactors(channels) : typeof family === 'string' ? latentRgbFactors[family] : family;

/**
 * A cheap RGBA preview of a latent (x_t or x̂_0) without running the VAE decoder, as ComfyUI's Latent2RGB
 * previewer does: per pixel rgb = Σ_c latent_c·F[c] + bias, then byte = round((clamp(rgb, −1, 1) + 1)·127.5),
 * alpha 255. Takes [C, h, w] or [B, C, h, w] float32 (the first sample of a batch); the picture is h×w, i.e.
 * one pixel per latent cell (1/8 of the decoded size for SD).
 *
 * @example
 * const { width, height, rgba } = latentToRgb(float32([1, 4, 64, 64], x0), 'sd1'); // 64×64
 */
export const latentToRgb = (
  latent: Tensor,
  family: LatentFamily | LatentRgbFactors,
): { width: number; height: number; rgba: Uint8ClampedArray } => {
  const d = latent.dims;
  if (latent.dtype !== 'float32' || (d.length !== 3 && d.length !== 4)) {
    throw new PipelineError(
      'shape_mismatch',
      `latentToRgb needs a float32 [C,h,w] or [B,C,h,w] latent, got ${latent.dtype} [${d.join(',')}]`,
    );
  }
  const [channels, height, width] = d.length === 4 ? d.slice(1) : d;
  const { factors, bias = [0, 0, 0] } = factorsFor(family, channels);
  if (factors.length !== channels) {
    throw new PipelineError(
      'shape_mismatch',
      `latent has ${channels} channels but the RGB factors have ${factors.length} rows`,
    );
  }
  const data = latent.data as Float32Array; // the first sample starts at offset 0 either way
  const plane = width * height;
  const rgba = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++) {
      let v = bias[k];
      for (let c = 0; c < channels; c++) v += data[c * plane + p] * factors[c][k];
      rgba[p * 4 + k] = Math.round((Math.min(Math.max(v, -1), 1) + 1) * 127.5);
    }
    rgba[p * 4 + 3] = 255;
  }
  return { width, height, rgba };
};
