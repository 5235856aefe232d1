import { PipelineError } from '../errors.ts';

/** What a WebP's RIFF container says before any pixel is decoded. */
export interface WebpInfo {
  /** The image chunk's kind: 'VP8 ' is lossy, 'VP8L' lossless. */
  readonly codec: 'VP8 ' | 'VP8L';
  readonly width: number;
  readonly height: number;
  readonly animated: boolean;
  /** The TIFF block of the `EXIF` chunk, if any. */
  readonly exif?: Uint8Array;
}

const bad = (message: string) => new PipelineError('bad_image', message);
const fourcc = (b: Uint8Array, p: number) => String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
const u24 = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
const u32 = (b: Uint8Array, p: number) => (u24(b, p) | (b[p + 3] << 24)) >>> 0;

/** Width and height from the image chunk itself (RFC 9649 §5.1 for VP8L, RFC 6386 §9.1 for VP8). */
const bitstreamSize = (codec: string, d: Uint8Array): [number, number] | undefined => {
  // VP8L: signature 0x2f, then 14 bits width − 1 and 14 bits height − 1, little-endian bit order.
  if (codec === 'VP8L' && d.length >= 5 && d[0] === 0x2f) {
    const bits = u32(d, 1);
    return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  // VP8 key frame: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height (top 2 bits are scale).
  if (codec === 'VP8 ' && d.length >= 10 && d[3] === 0x9d && d[4] === 0x01 && d[5] === 0x2a) {
    return [(d[6] | (d[7] << 8)) & 0x3fff, (d[8] | (d[9] << 8)) & 0x3fff];
  }
  return undefined;
};

/**
 * Walks a WebP's RIFF chunks (RFC 9649 §2): the simple formats hold one `VP8 ` or `VP8L` chunk; the extended
 * format starts with `VP8X` (flags, canvas size) and may add `ALPH`, `ICCP`, `EXIF`, `XMP `, `ANIM`/`ANMF`.
 * A RIFF size past the end of the bytes means the file was cut short.
 *
 * @example
 * const { codec, width, height, exif } = readWebpChunks(bytes);
 */
export const readWebpChunks = (bytes: Uint8Array): WebpInfo => {
  if (bytes.length < 20 || fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'WEBP')
    throw bad('not a WebP file (no RIFF/WEBP header)');
  const end = 8 + u32(bytes, 4);
  if (end > bytes.length) throw bad(`WebP is truncated: RIFF says ${end} bytes, the file has ${bytes.length}`);
  let codec: WebpInfo['codec'] | undefined;
  let size: [number, number] | undefined;
  let canvas: [number, number] | undefined;
  let animated = false;
  let exif: Uint8Array | undefined;
  for (let pos = 12; pos + 8 <= end; ) {
    const type = fourcc(bytes, pos);
    const length = u32(bytes, pos + 4);
    if (pos + 8 + length > end) throw bad(`WebP is truncated inside its ${type.trim()} chunk at byte ${pos}`);
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === 'VP8X' && length >= 10) {
      animated ||= (data[0] & 0x02) !== 0;
      canvas = [u24(data, 4) + 1, u24(data, 7) + 1];
    } else if (type === 'ANIM' || type === 'ANMF') animated = true;
    else if (type === 'EXIF' && !exif) exif = stripExifPrefix(data);
    else if ((type === 'VP8 ' || type === 'VP8L') && !codec) {
      codec = type;
      size = bitstreamSize(type, data);
    }
    pos += 8 + length + (length & 1); // chunks are padded to an even length
  }
  if (animated) return { codec: codec ?? 'VP8 ', width: canvas?.[0] ?? 0, height: canvas?.[1] ?? 0, animated, exif };
  if (!codec) throw bad('WebP has no VP8 or VP8L image chunk');
  // libwebp sizes its buffers from the bitstream's own header, so that is the size the caller must check; a
  // VP8X canvas that disagrees with it is refused here rather than trusted.
  if (!size) throw bad(`WebP ${codec.trim()} chunk has no valid bitstream header (or is not a key frame)`);
  if (canvas && (canvas[0] !== size[0] || canvas[1] !== size[1]))
    throw bad(`WebP canvas ${canvas[0]}×${canvas[1]} does not match its image ${size[0]}×${size[1]}`);
  return { codec, width: size[0], height: size[1], animated, exif };
};

/** Some writers keep JPEG's "Exif\0\0" prefix in the chunk; the spec's payload starts at the TIFF header. */
const stripExifPrefix = (d: Uint8Array) => (fourcc(d, 0) === 'Exif' && d[4] === 0 && d[5] === 0 ? d.subarray(6) : d);
