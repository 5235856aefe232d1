import { PipelineError } from '../errors.ts';
import { float32, type Tensor } from '../tensor.ts';

/** An 8-bit RGBA picture, row-major, 4 bytes per pixel: what `decodePng` returns and `encodePng` takes. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 4;
  readonly data: Uint8Array;
}

/** The one thing crops need from a random stream (the project's `Rng` has it). */
export interface IntSource {
  int(n: number): number;
}

const checkRgba = (img: RgbaImage): void => {
  if (img.data.length !== img.width * img.height * 4) {
    throw new PipelineError(
      'shape_mismatch',
      `RGBA image ${img.width}×${img.height} has ${img.data.length} bytes, needs ${img.width * img.height * 4}`,
    );
  }
};

/**
 * Images → float32 [B, 3, H, W] in the VAE's range: x = byte/127.5 − 1. Alpha is dropped, not composited,
 * as PIL's `convert('RGB')` in the diffusers training scripts does. All images must share one size.
 *
 * @example
 * const pixels = rgbaToTensor([img]); // dims [1, 3, 512, 512]
 */
export const rgbaToTensor = (images: RgbaImage | readonly RgbaImage[]): Tensor<'float32'> => {
  const list = Array.isArray(images) ? images : [images as RgbaImage];
  if (list.length === 0) throw new PipelineError('bad_request', 'rgbaToTensor needs at least one image');
  const { width, height } = list[0];
  const plane = width * height;
  const t = float32([list.length, 3, height, width]);
  list.forEach((img, b) => {
    checkRgba(img);
    if (img.width !== width || img.height !== height) {
      throw new PipelineError(
        'shape_mismatch',
        `image ${b} is ${img.width}×${img.height}, image 0 is ${width}×${height}`,
      );
    }
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) t.data[(b * 3 + c) * plane + p] = img.data[p * 4 + c] / 127.5 - 1;
    }
  });
  return t;
};

/**
 * One image of a float [B, 3, H, W] or [3, H, W] tensor in [−1, 1] → RGBA, byte = round(clamp((x+1)/2, 0, 1)·255)
 * like diffusers' image processor; alpha 255.
 *
 * @example
 * const img = tensorToRgba(decoded, 0);
 */
export const tensorToRgba = (t: Tensor, index = 0): RgbaImage => {
  const d = t.dims;
  const [b, c, height, width] = d.length === 3 ? [1, ...d] : d;
  if (t.dtype !== 'float32' || (d.length !== 3 && d.length !== 4) || c !== 3 || index < 0 || index >= b) {
    throw new PipelineError(
      'shape_mismatch',
      `tensorToRgba needs float32 [B,3,H,W] and an index below B, got ${t.dtype} [${d.join(',')}] index ${index}`,
    );
  }
  const plane = width * height;
  const src = (t.data as Float32Array).subarray(index * 3 * plane, (index + 1) * 3 * plane);
  const data = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++)
      data[p * 4 + k] = Math.round(Math.min(Math.max((src[k * plane + p] + 1) / 2, 0), 1) * 255);
    data[p * 4 + 3] = 255;
  }
  return { width, height, channels: 4, data };
};

/**
 * The `width`×`height` window whose top-left corner is (`left`, `top`); it must lie inside the image.
 *
 * @example
 * crop(img, 10, 20, 256, 256);
 */
export const crop = (img: RgbaImage, left: number, top: number, width: number, height: number): RgbaImage => {
  checkRgba(img);
  if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > img.width || top + height > img.height) {
    throw new PipelineError(
      'bad_request',
      `crop ${width}×${height} at (${left}, ${top}) does not fit a ${img.width}×${img.height} image`,
    );
  }
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * 4;
    data.set(img.data.subarray(from, from + width * 4), y * width * 4);
  }
  return { width, height, channels: 4, data };
};

/**
 * The centred window, offset ⌊(W−w)/2⌋, ⌊(H−h)/2⌋ as in the diffusers textual-inversion script's center crop.
 *
 * @example
 * centerCrop(img, Math.min(img.width, img.height), Math.min(img.width, img.height)); // the central square
 */
export const centerCrop = (img: RgbaImage, width: number, height: number): RgbaImage =>
  crop(img, Math.floor((img.width - width) / 2), Math.floor((img.height - height) / 2), width, height);

/**
 * A window at a uniformly random position (each of the W−w+1 × H−h+1 offsets equally likely).
 *
 * @example
 * randomCrop(img, 512, 512, rng.fork('crop'));
 */
export const randomCrop = (img: RgbaImage, width: number, height: number, rng: IntSource): RgbaImage => {
  if (width > img.width || height > img.height) return crop(img, 0, 0, width, height); // reports the misfit
  const left = rng.int(img.width - width + 1);
  return crop(img, left, rng.int(img.height - height + 1), width, height);
};

/**
 * Mirror image left ↔ right.
 *
 * @example
 * const flipped = rng.uniform() < 0.5 ? flipHorizontal(img) : img;
 */
export const flipHorizontal = (img: RgbaImage): RgbaImage => {
  checkRgba(img);
  const { width, height } = img;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 4;
      data.set(img.data.subarray(from, from + 4), (y * width + width - 1 - x) * 4);
    }
  }
  return { width, height, channels: 4, data };
};

/**
 * Lays images out in a grid of `columns` columns (rows as needed), each in a cell as large as the largest
 * image, top-left aligned, `gap` pixels apart; uncovered pixels take `background` (RGBA, default opaque black).
 *
 * @example
 * const sheet = tileGrid(samples, 4, { gap: 2 });
 */
export const tileGrid = (
  images: readonly RgbaImage[],
  columns: number,
  options: { gap?: number; background?: readonly [number, number, number, number] } = {},
): RgbaImage => {
  const { gap = 0, background = [0, 0, 0, 255] } = options;
  if (images.length === 0 || !Number.isInteger(columns) || columns < 1 || gap < 0) {
    throw new PipelineError(
      'bad_request',
      `tileGrid needs images and a positive column count, got ${images.length} images, ${columns} columns`,
    );
  }
  const cellW = Math.max(...images.map((i) => i.width));
  const cellH = Math.max(...images.map((i) => i.height));
  const cols = Math.min(columns, images.length);
  const rows = Math.ceil(images.length / cols);
  const width = cols * cellW + (cols - 1) * gap;
  const height = rows * cellH + (rows - 1) * gap;
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set(background, p * 4);
  images.forEach((img, n) => {
    checkRgba(img);
    const left = (n % cols) * (cellW + gap);
    const top = Math.floor(n / cols) * (cellH + gap);
    for (let y = 0; y < img.height; y++) {
      data.set(img.data.subarray(y * img.width * 4, (y + 1) * img.width * 4), ((top + y) * width + left) * 4);
    }
  });
  return { width, height, channels: 4, data };
};
