import { PipelineError } from '../errors.ts';
import { applyOrientation, exifOrientation } from './exif.ts';
import type { RgbaImage } from './image.ts';
import { decodeJpeg } from './jpeg.ts';
import { decodePng } from './png.ts';
import { decodeWebp } from './webp.ts';

/** The containers `decodeImage` reads. */
export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** A decoded training image: opaque RGBA, upright, and the original alpha plane when the file had transparency. */
export interface DecodedImage extends RgbaImage {
  readonly format: ImageFormat;
  /**
   * Alpha before compositing, one byte per pixel, row-major, in the same upright orientation as `data`; present
   * only when some pixel was not fully opaque (a later loss mask can use it).
   */
  readonly alpha?: Uint8Array;
}

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Formats we recognise only to name them in the refusal. */
const OTHERS: [string, number[], number][] = [
  ['GIF', ascii('GIF8'), 0],
  ['BMP', ascii('BM'), 0],
  ['TIFF', ascii('II*\0'), 0],
  ['TIFF', ascii('MM\0*'), 0],
  ['HEIC/AVIF', ascii('ftyp'), 4],
  ['JPEG 2000', [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20], 0],
];

/**
 * Which container the bytes are, by magic number, not by file name: PNG signature, JPEG SOI + marker,
 * RIFF…WEBP. Undefined for anything else.
 *
 * @example
 * sniffImageFormat(bytes); // 'jpeg'
 */
export const sniffImageFormat = (bytes: Uint8Array): ImageFormat | undefined =>
  startsWith(bytes, PNG)
    ? 'png'
    : startsWith(bytes, [0xff, 0xd8, 0xff])
      ? 'jpeg'
      : startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)
        ? 'webp'
        : undefined;

/**
 * The payload of a PNG's `eXIf` chunk (PNG extensions 1.5), walking chunk headers only (`decodePng` checked the
 * CRCs). The chunk should precede IDAT, but some writers append it, so the whole file is searched.
 */
const pngExif = (b: Uint8Array): Uint8Array | undefined => {
  for (let pos = 8; pos + 8 <= b.length; ) {
    const length = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
    if (startsWith(b, ascii('eXIf'), pos + 4)) return b.subarray(pos + 8, Math.min(pos + 8 + length, b.length));
    pos += 12 + length;
  }
  return undefined;
};

/**
 * Composites RGBA over white: c' = round((c·a + 255·(255 − a)) / 255), in 8-bit sRGB values as Pillow's
 * `alpha_composite` onto a white background does. Returns the opaque image and the alpha plane, or no plane
 * when every pixel is already opaque.
 *
 * @example
 * const { image, alpha } = compositeOverWhite(rgba);
 */
export const compositeOverWhite = (img: RgbaImage): { image: RgbaImage; alpha?: Uint8Array } => {
  const n = img.width * img.height;
  const alpha = new Uint8Array(n);
  let opaque = true;
  for (let p = 0; p < n; p++) opaque = (alpha[p] = img.data[p * 4 + 3]) === 255 && opaque;
  if (opaque) return { image: img };
  const data = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    const a = alpha[p];
    for (let c = 0; c < 3; c++) data[p * 4 + c] = Math.round((img.data[p * 4 + c] * a + 255 * (255 - a)) / 255);
    data[p * 4 + 3] = 255;
  }
  return { image: { width: img.width, height: img.height, channels: 4, data }, alpha };
};

const decodeAny = async (bytes: Uint8Array, format: ImageFormat): Promise<{ image: RgbaImage; exif?: Uint8Array }> => {
  if (format === 'png') return { image: await decodePng(bytes), exif: pngExif(bytes) };
  return format === 'jpeg' ? decodeJpeg(bytes) : decodeWebp(bytes);
};

/**
 * Decodes a PNG, JPEG or WebP training image, told apart by magic bytes, to opaque 8-bit RGBA: grey becomes
 * RGB, CMYK/YCCK JPEG becomes RGB, the EXIF orientation (JPEG APP1, WebP `EXIF`, PNG `eXIf`) is applied, and
 * transparency is composited over white with the original alpha kept beside it. Any size from 1×1 up decodes;
 * judging whether an image is big enough to train on is the caller's job. Anything that cannot be decoded —
 * unknown format, corrupt or truncated data, an unsupported variant — is `PipelineError('bad_image')` whose
 * message starts with `name`.
 *
 * @example
 * const img = await decodeImage(new Uint8Array(await file.arrayBuffer()), file.name);
 * img.width; img.height; img.data; // RGBA, alpha 255
 */
export const decodeImage = async (bytes: Uint8Array, name: string): Promise<DecodedImage> => {
  const format = sniffImageFormat(bytes);
  if (!format) {
    const other = OTHERS.find(([, sig, at]) => startsWith(bytes, sig, at));
    const what = other ? `a ${other[0]} file, which is not supported` : 'not a PNG, JPEG or WebP file';
    throw new PipelineError('bad_image', `${name}: ${what}; convert it to PNG or JPEG`, { file: name });
  }
  try {
    const { image, exif } = await decodeAny(bytes, format);
    const { image: flat, alpha } = compositeOverWhite(applyOrientation(image, exifOrientation(exif)));
    return { ...flat, format, ...(alpha ? { alpha } : {}) };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new PipelineError('bad_image', `${name}: cannot decode this ${format.toUpperCase()} image: ${message}`, {
      file: name,
      format,
    });
  }
};
