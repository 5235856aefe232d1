import { describe, expect, it } from 'bun:test';
import { PipelineError } from '../errors.ts';
import { decodeWebp } from './webp.ts';
import { readWebpChunks } from './webp-riff.ts';

const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const expectNear = (got: number[], want: number[], tol: number) =>
  want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(tol));
const failure = async (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e) => (e instanceof PipelineError ? `${e.code}: ${e.message}` : `other: ${e}`),
  );

/** The 4×2 RGBA picture in ALPHA_LOSSLESS, row by row (the blue pixel is fully transparent). */
const ALPHA_PIXELS = [
  [255, 0, 0, 255],
  [0, 255, 0, 128],
  [0, 0, 255, 0],
  [200, 100, 0, 64],
  [10, 20, 30, 255],
  [40, 50, 60, 255],
  [70, 80, 90, 255],
  [100, 110, 120, 255],
];
// ALPHA_PIXELS written as PNG by `encodePng`, then `cwebp -lossless -exact` (Debian webp 1.2.4); -exact keeps the
// colour under transparent pixels. A simple-format file: RIFF, WEBP, one VP8L chunk.
const ALPHA_LOSSLESS =
  'UklGRkwAAABXRUJQVlA4TEAAAAAvA0AAED9ApG0zE6Pzr/D0NsgELOYVYun0r4BAEIIj7fUagaSN1Z7sPPkDjvdPZjVJkm2BUACNscQSS7+I/gcb';
// The 16×16 card — 8×8 blocks (200,40,30) (20,180,60) / (30,50,220) (250,240,20) — through `cwebp -q 90` (lossy VP8).
const CARD_LOSSY =
  'UklGRkgAAABXRUJQVlA4IDwAAADQAQCdASoQABAAAMASJaACdLoB+AADsAD+5Gf//Q5//1y1//6UWb/1lfz0f7wF/+aDf/toH9ZRQr0OAAA=';
const CARD = [
  [200, 40, 30],
  [20, 180, 60],
  [30, 50, 220],
  [250, 240, 20],
];

/** A RIFF/WEBP file from chunks, each `[fourcc, payload]`, padded to even length as RFC 9649 requires. */
const riff = (chunks: [string, Uint8Array][]): Uint8Array => {
  const parts = chunks.flatMap(([type, data]) => {
    const head = new Uint8Array(8);
    head.set(Array.from(type, (c) => c.charCodeAt(0)));
    new DataView(head.buffer).setUint32(4, data.length, true);
    return [head, data, new Uint8Array(data.length & 1)];
  });
  const body = parts.reduce((n, p) => n + p.length, 4);
  const out = new Uint8Array(8 + body);
  out.set([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50]);
  new DataView(out.buffer).setUint32(4, body, true);
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 12);
  return out;
};
/** VP8X payload: flags byte, 3 reserved, canvas width − 1 and height − 1 as 24-bit little-endian. */
const vp8x = (flags: number, width: number, height: number) =>
  Uint8Array.from([flags, 0, 0, 0, (width - 1) & 0xff, (width - 1) >> 8, 0, (height - 1) & 0xff, (height - 1) >> 8, 0]);
const vp8lChunk = () => fromBase64(ALPHA_LOSSLESS).subarray(20);

describe('readWebpChunks', () => {
  it('reads the size from a VP8L header, a VP8 key-frame header or the VP8X canvas', () => {
    expect(readWebpChunks(fromBase64(ALPHA_LOSSLESS))).toMatchObject({
      codec: 'VP8L',
      width: 4,
      height: 2,
      animated: false,
    });
    expect(readWebpChunks(fromBase64(CARD_LOSSY))).toMatchObject({ codec: 'VP8 ', width: 16, height: 16 });
    expect(
      readWebpChunks(
        riff([
          ['VP8X', vp8x(0x10, 4, 2)],
          ['VP8L', vp8lChunk()],
        ]),
      ),
    ).toMatchObject({ codec: 'VP8L', width: 4, height: 2 });
  });

  it('finds an EXIF chunk, with or without a leading "Exif\\0\\0"', () => {
    const tiff = Uint8Array.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8]);
    const prefixed = Uint8Array.from([0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff]);
    for (const payload of [tiff, prefixed]) {
      const info = readWebpChunks(
        riff([
          ['VP8X', vp8x(0x08, 4, 2)],
          ['VP8L', vp8lChunk()],
          ['EXIF', payload],
        ]),
      );
      expect(Array.from(info.exif ?? [])).toEqual(Array.from(tiff));
    }
  });

  it('reports a file shorter than its RIFF size as truncated', () => {
    const bytes = fromBase64(CARD_LOSSY);
    expect(() => readWebpChunks(bytes.subarray(0, 60))).toThrow(
      'WebP is truncated: RIFF says 80 bytes, the file has 60',
    );
  });
});

describe('decodeWebp', () => {
  it('decodes lossless WebP exactly, alpha and the colour under transparency included', async () => {
    const { image } = await decodeWebp(fromBase64(ALPHA_LOSSLESS));
    expect([image.width, image.height]).toEqual([4, 2]);
    expect(Array.from(image.data)).toEqual(ALPHA_PIXELS.flat());
  });

  it('decodes lossy WebP to within a few levels of the source colours', async () => {
    const { image } = await decodeWebp(fromBase64(CARD_LOSSY));
    [pixel(image, 3, 3), pixel(image, 12, 3), pixel(image, 3, 12), pixel(image, 12, 12)].forEach((p, i) =>
      expectNear(p, [...CARD[i], 255], 5),
    );
  });

  it('decodes the extended format (VP8X + VP8L) the same as the simple one', async () => {
    const { image } = await decodeWebp(
      riff([
        ['VP8X', vp8x(0x10, 4, 2)],
        ['VP8L', vp8lChunk()],
      ]),
    );
    expect(Array.from(image.data)).toEqual(ALPHA_PIXELS.flat());
  });

  it('refuses animated WebP with a message saying what to do', async () => {
    const animated = riff([
      ['VP8X', vp8x(0x02, 4, 2)],
      ['ANIM', new Uint8Array(6)],
    ]);
    expect(await failure(decodeWebp(animated))).toBe(
      'bad_image: animated WebP is not supported; export one frame as PNG or JPEG',
    );
  });

  it('reports corrupt image data as bad_image', async () => {
    const bytes = fromBase64(ALPHA_LOSSLESS);
    bytes.fill(0xff, 25); // keep the header and size, wreck the Huffman codes
    expect(await failure(decodeWebp(bytes))).toBe('bad_image: WebP data is corrupt (libwebp could not decode it)');
  });
});
