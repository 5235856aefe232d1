/**
 * The latent → RGB preview factors of a trained model, fitted: ordinary least squares (with a bias) from each
 * latent cell's C values (scaled, as diffusion sees them) to the mean colour of the 8×8 pixel block it encodes,
 * in [−1, 1] — what `latentToRgb` draws for x̂₀ previews.
 */
import { PipelineError } from '../../common/errors.ts';

/** Solves the square system A·x = b (n small) by Gaussian elimination with partial pivoting. */
const solve = (a: number[][], b: number[]): number[] => {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    if (Math.abs(m[p][c]) < 1e-12)
      throw new PipelineError('numeric', 'the preview fit is singular (constant latents?)');
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
};

export interface PreviewFit {
  /** One [R, G, B] row per latent channel. */
  factors: number[][];
  bias: number[];
  /** Fraction of the pooled images' variance the fit explains (1 = perfect). */
  r2: number;
}

/**
 * Fits factors from latents [N, C, h, w] to images [N, 3, h·s, w·s] (both channels first, images in [−1, 1]).
 *
 * @example
 * const { factors, bias, r2 } = fitPreview(latents, pixels, 512, 4, 8, 8);
 */
export const fitPreview = (
  latents: Float32Array,
  pixels: Float32Array,
  count: number,
  channels: number,
  h: number,
  scale: number,
): PreviewFit => {
  const k = channels + 1;
  const ata = Array.from({ length: k }, () => new Array(k).fill(0));
  const atb = Array.from({ length: 3 }, () => new Array(k).fill(0));
  const size = h * scale;
  const rows: { x: number[]; y: number[] }[] = [];
  for (let n = 0; n < count; n++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < h; j++) {
        const x = [...Array.from({ length: channels }, (_, c) => latents[((n * channels + c) * h + i) * h + j]), 1];
        const y = [0, 1, 2].map((c) => {
          let s = 0;
          for (let di = 0; di < scale; di++)
            for (let dj = 0; dj < scale; dj++)
              s += pixels[((n * 3 + c) * size + i * scale + di) * size + j * scale + dj];
          return s / (scale * scale);
        });
        rows.push({ x, y });
        for (let a = 0; a < k; a++) {
          for (let b = 0; b < k; b++) ata[a][b] += x[a] * x[b];
          for (let c = 0; c < 3; c++) atb[c][a] += x[a] * y[c];
        }
      }
  const sol = [0, 1, 2].map((c) => solve(ata, atb[c]));
  let ssRes = 0;
  let ssTot = 0;
  const mean = [0, 1, 2].map((c) => rows.reduce((s, r) => s + r.y[c], 0) / rows.length);
  for (const r of rows)
    for (let c = 0; c < 3; c++) {
      const pred = sol[c].reduce((s, w, a) => s + w * r.x[a], 0);
      ssRes += (pred - r.y[c]) ** 2;
      ssTot += (r.y[c] - mean[c]) ** 2;
    }
  return {
    factors: Array.from({ length: channels }, (_, ch) => [0, 1, 2].map((c) => sol[c][ch])),
    bias: [0, 1, 2].map((c) => sol[c][channels]),
    r2: 1 - ssRes / ssTot,
  };
};
