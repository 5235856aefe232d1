import { PipelineError } from '../errors.ts';

/**
 * PNG's five per-row filters (PNG spec §9). Each predicts a byte from a = the byte `bpp` to the left,
 * b = the byte above, c = above-left (0 off the edge) and stores the difference mod 256:
 * 0 None, 1 Sub (a), 2 Up (b), 3 Average (⌊(a+b)/2⌋), 4 Paeth (whichever of a, b, c is nearest a+b−c,
 * ties going a, then b).
 */
const paeth = (a: number, b: number, c: number): number => {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
};

const predict = (type: number, a: number, b: number, c: number): number =>
  type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >> 1 : paeth(a, b, c);

/**
 * Undoes the filters of `rows` scanlines of `stride` bytes each, read from `raw` at `offset` (each line is a
 * filter-type byte then `stride` bytes). Returns the raw sample bytes and where the input ended.
 *
 * @example
 * const { pixels } = unfilterScanlines(inflated, 0, height, width * 4, 4);
 */
export const unfilterScanlines = (
  raw: Uint8Array,
  offset: number,
  rows: number,
  stride: number,
  bpp: number,
): { pixels: Uint8Array; end: number } => {
  if (raw.length < offset + rows * (stride + 1)) {
    throw new PipelineError(
      'bad_image',
      `PNG image data is truncated: ${raw.length - offset} bytes for ${rows} rows of ${stride + 1}`,
    );
  }
  const out = new Uint8Array(rows * stride);
  let src = offset;
  for (let y = 0; y < rows; y++) {
    const type = raw[src++];
    if (type > 4) throw new PipelineError('bad_image', `PNG row ${y} has unknown filter type ${type}`);
    const row = y * stride;
    const up = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[up + x] : 0;
      const c = y > 0 && x >= bpp ? out[up + x - bpp] : 0;
      out[row + x] = (raw[src++] + predict(type, a, b, c)) & 0xff;
    }
  }
  return { pixels: out, end: src };
};

/**
 * Filters scanlines for encoding, choosing each row's filter by libpng's heuristic: the one whose output has the
 * smallest sum of |byte as signed int8|, which tends to deflate best.
 *
 * @example
 * const idatRaw = filterScanlines(rgba, height, width * 4, 4);
 */
export const filterScanlines = (pixels: Uint8Array, rows: number, stride: number, bpp: number): Uint8Array => {
  const out = new Uint8Array(rows * (stride + 1));
  const trial = new Uint8Array(stride);
  for (let y = 0; y < rows; y++) {
    const row = y * stride;
    const dst = y * (stride + 1);
    let best = Infinity;
    for (let type = 0; type <= 4; type++) {
      let cost = 0;
      for (let x = 0; x < stride; x++) {
        const a = x >= bpp ? pixels[row + x - bpp] : 0;
        const b = y > 0 ? pixels[row - stride + x] : 0;
        const c = y > 0 && x >= bpp ? pixels[row - stride + x - bpp] : 0;
        const v = (pixels[row + x] - predict(type, a, b, c)) & 0xff;
        trial[x] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best) {
        best = cost;
        out[dst] = type;
        out.set(trial, dst + 1);
      }
    }
  }
  return out;
};
