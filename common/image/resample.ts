import { PipelineError } from '../errors.ts';
import type { RgbaImage } from './image.ts';

/** Resampling kernels: `area` (box), `bilinear` (triangle) and `bicubic` (Keys, a = −0.5), as Pillow defines them. */
export type ResampleFilter = 'area' | 'bilinear' | 'bicubic';

const KERNELS: Record<ResampleFilter, { support: number; f: (x: number) => number }> = {
  area: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    support: 2,
    f: (t) => {
      const x = Math.abs(t);
      const a = -0.5;
      return x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * a : 0;
    },
  },
};

/**
 * Per output index: the first input index and the normalised weights, Pillow's `precompute_coeffs`. Pixel
 * centres sit at i + ½; when shrinking by `scale` the kernel is stretched by `scale` so every input pixel
 * contributes (antialiasing), which makes `area` an exact block mean for integer factors.
 */
const coefficients = (inSize: number, outSize: number, filter: ResampleFilter) => {
  const { support: base, f } = KERNELS[filter];
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = base * stretch;
  return Array.from({ length: outSize }, (_, o) => {
    const center = (o + 0.5) * scale;
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const last = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = Array.from({ length: last - first }, (_, k) => f((first + k - center + 0.5) / stretch));
    const sum = w.reduce((a, b) => a + b, 0);
    return { first, weights: w.map((v) => (sum === 0 ? 0 : v / sum)) };
  });
};

/** One separable pass over float RGBA planes: along x when `horizontal`, else along y. */
const pass = (
  src: Float32Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
  horizontal: boolean,
  filter: ResampleFilter,
) => {
  const out = new Float32Array(outW * outH * 4);
  const coefs = coefficients(horizontal ? w : h, horizontal ? outW : outH, filter);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const { first, weights } = coefs[horizontal ? x : y];
      const o = (y * outW + x) * 4;
      for (let k = 0; k < weights.length; k++) {
        const i = horizontal ? (y * w + first + k) * 4 : ((first + k) * w + x) * 4;
        for (let c = 0; c < 4; c++) out[o + c] += weights[k] * src[i + c];
      }
    }
  }
  return out;
};

/**
 * Resizes to exactly `width`×`height` with a separable Pillow-style filter (default bilinear). Colour is
 * resampled premultiplied by alpha, as Pillow does for RGBA, so transparent pixels do not bleed their colour.
 *
 * @example
 * const small = resize(img, 512, 512, 'bicubic');
 */
export const resize = (
  img: RgbaImage,
  width: number,
  height: number,
  filter: ResampleFilter = 'bilinear',
): RgbaImage => {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new PipelineError('bad_request', `cannot resize to ${width}×${height}`);
  }
  const n = img.width * img.height;
  let f = new Float32Array(n * 4);
  for (let p = 0; p < n; p++) {
    const a = img.data[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) f[p * 4 + c] = img.data[p * 4 + c] * a;
    f[p * 4 + 3] = img.data[p * 4 + 3];
  }
  if (width !== img.width) f = pass(f, img.width, img.height, width, img.height, true, filter);
  // Pillow stores the horizontal pass as bytes; rounding and clamping here too keeps bicubic overshoot equal to its.
  if (width !== img.width && height !== img.height) f = f.map((v) => Math.min(255, Math.max(0, Math.round(v))));
  if (height !== img.height) f = pass(f, width, img.height, width, height, false, filter);
  const out = new Uint8Array(width * height * 4);
  const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  for (let p = 0; p < width * height; p++) {
    const a = clamp(f[p * 4 + 3]);
    for (let c = 0; c < 3; c++) out[p * 4 + c] = a === 0 ? 0 : clamp((f[p * 4 + c] * 255) / f[p * 4 + 3]);
    out[p * 4 + 3] = a;
  }
  return { width, height, channels: 4, data: out };
};

/**
 * Scales so the shorter side becomes `size`, keeping the aspect ratio (longer side rounded).
 *
 * @example
 * resizeShorter({ width: 800, height: 600, ... }, 512); // 683×512
 */
export const resizeShorter = (img: RgbaImage, size: number, filter: ResampleFilter = 'bilinear'): RgbaImage => {
  const k = size / Math.min(img.width, img.height);
  return resize(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)), filter);
};
