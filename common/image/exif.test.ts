import { describe, expect, it } from 'bun:test';
import { PipelineError } from '../errors.ts';
import { applyOrientation, exifOrientation } from './exif.ts';
import type { RgbaImage } from './image.ts';

/**
 * A TIFF block as EXIF stores it, byte by byte: header (byte order, 42, IFD0 offset 8), then IFD0 with the given
 * (tag, type, value) entries, each a one-value SHORT/LONG left-justified in its 4-byte field, then next-IFD 0.
 */
const tiffBlock = (entries: [tag: number, type: number, value: number][], little = false): Uint8Array => {
  const b = new Uint8Array(8 + 2 + 12 * entries.length + 4);
  const v = new DataView(b.buffer);
  b.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  v.setUint16(2, 42, little);
  v.setUint32(4, 8, little);
  v.setUint16(8, entries.length, little);
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + 12 * i;
    v.setUint16(at, tag, little);
    v.setUint16(at + 2, type, little);
    v.setUint32(at + 4, 1, little);
    if (type === 4) v.setUint32(at + 8, value, little);
    else v.setUint16(at + 8, value, little);
  });
  return b;
};

describe('exifOrientation', () => {
  it('reads tag 0x0112 from big- and little-endian IFD0, past other tags', () => {
    expect(exifOrientation(tiffBlock([[0x0112, 3, 6]]))).toBe(6);
    expect(
      exifOrientation(
        tiffBlock(
          [
            [0x010f, 3, 9],
            [0x0112, 3, 8],
          ],
          true,
        ),
      ),
    ).toBe(8);
    expect(exifOrientation(tiffBlock([[0x0112, 4, 3]], true))).toBe(3); // a LONG, as a few writers use
  });

  it('falls back to 1 for no block, no tag, a value outside 1–8 or a broken block', () => {
    expect(exifOrientation(undefined)).toBe(1);
    expect(exifOrientation(tiffBlock([[0x010f, 3, 6]]))).toBe(1);
    expect(exifOrientation(tiffBlock([[0x0112, 3, 9]]))).toBe(1);
    expect(exifOrientation(Uint8Array.from([0x4d, 0x4d, 0, 42, 0, 0, 0xff, 0]))).toBe(1); // IFD0 past the end
    expect(exifOrientation(tiffBlock([[0x0112, 3, 6]]).subarray(0, 16))).toBe(1); // entry cut off
    expect(exifOrientation(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toBe(1);
  });
});

describe('applyOrientation', () => {
  // Stored 3×2:  a b c / d e f, each pixel (k, k, k, 255) with a..f = 1..6.
  const stored: RgbaImage = {
    width: 3,
    height: 2,
    channels: 4,
    data: Uint8Array.from([1, 2, 3, 4, 5, 6].flatMap((k) => [k, k, k, 255])),
  };
  const layout = (img: RgbaImage) => ({
    w: img.width,
    h: img.height,
    px: Array.from({ length: img.width * img.height }, (_, p) => img.data[p * 4]),
  });

  it('turns stored pixels upright for each of the eight orientations', () => {
    // Written out from the TIFF 6.0 definitions: 6 is rotate 90° clockwise to display, 8 is 90° counter-clockwise.
    const want: Record<number, [number, number, number[]]> = {
      1: [3, 2, [1, 2, 3, 4, 5, 6]],
      2: [3, 2, [3, 2, 1, 6, 5, 4]], // mirror left ↔ right
      3: [3, 2, [6, 5, 4, 3, 2, 1]], // 180°
      4: [3, 2, [4, 5, 6, 1, 2, 3]], // mirror top ↔ bottom
      5: [2, 3, [1, 4, 2, 5, 3, 6]], // transpose
      6: [2, 3, [4, 1, 5, 2, 6, 3]], // 90° clockwise
      7: [2, 3, [6, 3, 5, 2, 4, 1]], // transverse
      8: [2, 3, [3, 6, 2, 5, 1, 4]], // 90° counter-clockwise
    };
    for (const [o, [w, h, px]] of Object.entries(want))
      expect({ o, ...layout(applyOrientation(stored, Number(o))) }).toEqual({ o, w, h, px });
  });

  it('refuses an orientation outside 1–8', () => {
    expect(() => applyOrientation(stored, 0)).toThrow(PipelineError);
  });
});
