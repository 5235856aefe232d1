import { PipelineError } from '../errors.ts';
import { crc32 } from '../crc32.ts';
import type { RgbaImage } from './image.ts';
import { filterScanlines, unfilterScanlines } from './png-filter.ts';
import { deflate, inflate } from './zlib.ts';
import { limits } from '../limits.ts';

/** Pixels to encode: 8-bit grey (1), grey+alpha (2), RGB (3) or RGBA (4), row-major, interleaved. */
export interface PngInput {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  readonly data: Uint8Array | Uint8ClampedArray;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** Colour type → samples per pixel (PNG spec §11.2.2), and the bit depths each allows. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const COLOR_TYPE_OF = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
/** Adam7 passes as [x0, y0, dx, dy] (PNG spec §8.2). */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];
const bad = (message: string) => new PipelineError('bad_image', message);
const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
const putU32 = (b: Uint8Array, p: number, v: number) => {
  b[p] = v >>> 24;
  b[p + 1] = (v >>> 16) & 0xff;
  b[p + 2] = (v >>> 8) & 0xff;
  b[p + 3] = v & 0xff;
};

/** A chunk on the wire: length, type, data, CRC-32 of type + data. */
const chunk = (type: string, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(12 + data.length);
  putU32(out, 0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  putU32(out, 8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
};

/**
 * Encodes 8-bit pixels as a PNG: IHDR, one IDAT (rows filtered by the min-sum-of-abs heuristic, then zlib via
 * `CompressionStream`), IEND. Non-interlaced.
 *
 * @example
 * const png = await encodePng({ width: 512, height: 512, channels: 4, data: rgba });
 */
export const encodePng = async (img: PngInput): Promise<Uint8Array> => {
  const { width, height, channels, data } = img;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    !(channels in COLOR_TYPE_OF)
  ) {
    throw new PipelineError('bad_request', `cannot encode a ${width}×${height} image with ${channels} channels`);
  }
  if (data.length !== width * height * channels) {
    throw new PipelineError(
      'shape_mismatch',
      `PNG data has ${data.length} bytes, ${width}×${height}×${channels} needs ${width * height * channels}`,
    );
  }
  const ihdr = new Uint8Array(13);
  putU32(ihdr, 0, width);
  putU32(ihdr, 4, height);
  ihdr.set([8, COLOR_TYPE_OF[channels], 0, 0, 0], 8);
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const idat = await deflate(filterScanlines(bytes, height, width * channels, channels));
  const parts = [
    Uint8Array.from(SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

/** Refuses a colour type / depth pair the spec does not allow, and a size past `limits.imagePixels`. */
const checkHeader = ({ width, height, depth, colorType }: Header) => {
  if (!(colorType in CHANNELS) || !DEPTHS[colorType].includes(depth))
    throw bad(`PNG colour type ${colorType} with bit depth ${depth} is not valid`);
  if (width < 1 || height < 1 || width * height > limits.imagePixels)
    throw bad(`PNG size ${width}×${height} is empty or too large (at most ${limits.imagePixels} pixels)`);
};

/** The scanlines of each pass (one, or Adam7's seven, skipping empty ones): origin, step, size and row bytes. */
const passesOf = ({ width, height, depth, colorType, interlace }: Header) =>
  (interlace ? ADAM7 : [[0, 0, 1, 1]]).flatMap(([x0, y0, dx, dy]) => {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    // An empty pass has no scanlines at all, not even filter bytes.
    return w > 0 && h > 0 ? [{ x0, y0, dx, dy, w, h, stride: Math.ceil((w * CHANNELS[colorType] * depth) / 8) }] : [];
  });

/** Reads the chunk sequence, checking every CRC; returns the header, PLTE, tRNS and the joined IDAT data. */
const readChunks = (bytes: Uint8Array) => {
  if (bytes.length < 8 || SIGNATURE.some((v, i) => bytes[i] !== v)) throw bad('not a PNG file (bad signature)');
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  let trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let pos = 8;
  for (;;) {
    if (pos + 12 > bytes.length) throw bad(`PNG is truncated at byte ${pos} (no IEND chunk)`);
    const length = u32(bytes, pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + length > bytes.length) throw bad(`PNG is truncated inside the ${type} chunk at byte ${pos}`);
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + length)) !== u32(bytes, pos + 8 + length)) {
      throw bad(`PNG chunk ${type} at byte ${pos} fails its CRC check`);
    }
    pos += 12 + length;
    if (!header && type !== 'IHDR') throw bad(`PNG starts with chunk ${type}, not IHDR`);
    if (type === 'IHDR') {
      if (length !== 13) throw bad('PNG IHDR chunk is not 13 bytes');
      header = { width: u32(data, 0), height: u32(data, 4), depth: data[8], colorType: data[9], interlace: data[12] };
      if (data[10] !== 0 || data[11] !== 0 || data[12] > 1)
        throw bad('PNG uses an unknown compression, filter or interlace method');
      checkHeader(header); // before any IDAT is read, let alone inflated
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    // An unknown critical chunk (upper-case first letter) changes how pixels read, so it cannot be skipped.
    else if (type.charCodeAt(0) < 97) throw bad(`PNG has unknown critical chunk ${type}`);
  }
  if (idat.length === 0) throw bad('PNG has no IDAT chunk');
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((at, d) => (joined.set(d, at), at + d.length), 0);
  return { header: header!, palette, trns, idat: joined };
};

/**
 * Decodes a PNG to 8-bit RGBA: every colour type (grey, RGB, palette, grey+alpha, RGBA) and bit depth
 * (1–16; 16-bit rounds to 8 as v/257, low depths scale up by 255/(2^d−1)), tRNS transparency, all five filters,
 * and Adam7 interlacing. Anything malformed — signature, CRC, truncation, bad header, bad zlib data, a palette
 * index past PLTE — is `PipelineError('bad_image')`.
 *
 * @example
 * const { width, height, data } = await decodePng(new Uint8Array(await file.arrayBuffer()));
 */
export const decodePng = async (bytes: Uint8Array): Promise<RgbaImage> => {
  const { header, palette, trns, idat } = readChunks(bytes);
  const { width, height, depth, colorType } = header;
  if (colorType === 3 && !palette) throw bad('palette PNG has no PLTE chunk');
  const ch = CHANNELS[colorType];
  const bitsPerPixel = ch * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = passesOf(header);
  const need = passes.reduce((n, p) => n + p.h * (p.stride + 1), 0);
  // Inflate no further than the scanlines need (each a filter byte and its samples): a zlib bomb stops here.
  const raw = await inflate(idat, need).catch((e: unknown) => {
    throw e instanceof PipelineError ? bad(`PNG image data of a ${width}×${height} image: ${e.message}`) : e;
  });
  // Checked before the RGBA buffer exists, so a tiny file with a large header allocates nothing.
  if (raw.length < need) throw bad(`PNG image data is truncated: ${raw.length} of the ${need} bytes its size needs`);
  const out = new Uint8Array(width * height * 4);
  const max = (1 << depth) - 1;
  const scale = (v: number) => (depth === 16 ? Math.round(v / 257) : depth === 8 ? v : (v * 255) / max);
  // tRNS for grey / RGB names one colour (in raw sample units) that is fully transparent.
  const key =
    trns && (colorType === 0 || colorType === 2)
      ? Array.from({ length: ch }, (_, i) => (trns[2 * i] << 8) | trns[2 * i + 1])
      : undefined;

  let offset = 0;
  for (const { x0, y0, dx, dy, w, h, stride } of passes) {
    const { pixels, end } = unfilterScanlines(raw, offset, h, stride, bpp);
    offset = end;
    const s = new Array<number>(ch);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < ch; c++) {
          const i = x * ch + c;
          const p = y * stride;
          s[c] =
            depth === 16
              ? (pixels[p + 2 * i] << 8) | pixels[p + 2 * i + 1]
              : depth === 8
                ? pixels[p + i]
                : (pixels[p + ((i * depth) >> 3)] >> (8 - depth - ((i * depth) & 7))) & max;
        }
        const o = ((y0 + y * dy) * width + x0 + x * dx) * 4;
        if (colorType === 3) {
          if (3 * s[0] + 2 >= palette!.length)
            throw bad(`PNG palette index ${s[0]} is past the ${palette!.length / 3}-entry PLTE`);
          out.set(palette!.subarray(3 * s[0], 3 * s[0] + 3), o);
          out[o + 3] = trns && s[0] < trns.length ? trns[s[0]] : 255;
          continue;
        }
        const grey = ch < 3;
        for (let k = 0; k < 3; k++) out[o + k] = scale(s[grey ? 0 : k]);
        const hasAlpha = ch === 2 || ch === 4;
        out[o + 3] = hasAlpha ? scale(s[ch - 1]) : key?.every((v, i) => v === s[i]) ? 0 : 255;
      }
    }
  }
  return { width, height, channels: 4, data: out };
};
