import { PipelineError } from '../errors.ts';
import type { RgbaImage } from './image.ts';

/** The TIFF tag that says how the stored pixels must be turned to display upright (EXIF 2.3 §4.6.4, tag 274). */
const ORIENTATION_TAG = 0x0112;
const SHORT = 3;
const LONG = 4;

/**
 * The EXIF orientation (1–8) stored in a TIFF block — the payload of a JPEG APP1 "Exif\0\0" segment, a WebP
 * `EXIF` chunk or a PNG `eXIf` chunk — read from IFD0 tag 0x0112. Returns 1 (upright) when the block is
 * absent, malformed or holds a value outside 1–8: a broken EXIF block leaves the pixels usable, so it is not an
 * error, the same leniency Pillow's `exif_transpose` shows.
 *
 * @example
 * exifOrientation(tiff); // 6: the camera was turned a quarter clockwise, rotate 90° clockwise to show
 */
export const exifOrientation = (tiff: Uint8Array | undefined): number => {
  if (!tiff || tiff.length < 8) return 1;
  // "II" = Intel (little-endian), "MM" = Motorola (big-endian); then the magic 42 in that byte order.
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const u16 = (p: number) => view.getUint16(p, little);
  const u32 = (p: number) => view.getUint32(p, little);
  if (u16(2) !== 42) return 1;
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.length) return 1;
    if (u16(entry) !== ORIENTATION_TAG) continue;
    // A one-value SHORT or LONG sits left-justified in the entry's 4-byte value field.
    const type = u16(entry + 2);
    const value = type === SHORT ? u16(entry + 8) : type === LONG ? u32(entry + 8) : 0;
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
};

/**
 * Source pixel for display pixel (x, y), per orientation, with the stored image `w`×`h`. Orientations 5–8
 * swap width and height. 2 mirrors, 3 turns 180°, 4 flips vertically, 5 transposes, 6 turns 90° clockwise,
 * 7 transverses, 8 turns 90° counter-clockwise (Pillow's FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM,
 * TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90 in `exif_transpose`).
 */
const SOURCE: Record<number, (x: number, y: number, w: number, h: number) => [number, number]> = {
  1: (x, y) => [x, y],
  2: (x, y, w) => [w - 1 - x, y],
  3: (x, y, w, h) => [w - 1 - x, h - 1 - y],
  4: (x, y, _w, h) => [x, h - 1 - y],
  5: (x, y) => [y, x],
  6: (x, y, _w, h) => [y, h - 1 - x],
  7: (x, y, w, h) => [w - 1 - y, h - 1 - x],
  8: (x, y, w) => [w - 1 - y, x],
};

/**
 * Turns stored pixels upright for an EXIF orientation (1–8), so training sees what a photo viewer shows.
 * Orientation 1 returns the image itself.
 *
 * @example
 * const upright = applyOrientation(img, exifOrientation(tiff));
 */
export const applyOrientation = (img: RgbaImage, orientation: number): RgbaImage => {
  const source = SOURCE[orientation];
  if (!source) throw new PipelineError('bad_request', `EXIF orientation must be 1–8, got ${orientation}`);
  if (orientation === 1) return img;
  const { width: w, height: h } = img;
  const [width, height] = orientation >= 5 ? [h, w] : [w, h];
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = source(x, y, w, h);
      const from = (sy * w + sx) * 4;
      data.set(img.data.subarray(from, from + 4), (y * width + x) * 4);
    }
  }
  return { width, height, channels: 4, data };
};
