import { describe, expect, it } from 'bun:test';
import jpegJs from 'jpeg-js';
import { PipelineError } from '../errors.ts';
import { crc32 } from '../crc32.ts';
import { compositeOverWhite, decodeImage, sniffImageFormat, type DecodedImage } from './decode-image.ts';
import { encodePng } from './png.ts';

const pixel = (img: DecodedImage, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const expectNear = (got: number[], want: number[], tol: number) =>
  want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(tol));
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e) =>
      e instanceof PipelineError
        ? { code: e.code, message: e.message, file: e.details?.file }
        : { code: 'not a PipelineError', message: String(e) },
  );

/** 24×16, 8×8 blocks: R G B on top, Y M C below, so where each block lands after a rotation is easy to see. */
const R = [220, 30, 30],
  G = [30, 200, 40],
  B = [30, 40, 220],
  Y = [240, 230, 30],
  M = [210, 40, 200],
  C = [40, 210, 210];
const GRID = [
  [R, G, B],
  [Y, M, C],
];
const gridRgba = () =>
  Uint8Array.from(
    Array.from({ length: 24 * 16 }, (_, p) => [...GRID[Math.floor(p / 24 / 8)][Math.floor((p % 24) / 8)], 255]).flat(),
  );
const gridJpeg = () => new Uint8Array(jpegJs.encode({ width: 24, height: 16, data: gridRgba() }, 100).data);

/** The TIFF block EXIF stores, byte by byte: "MM", 42, IFD0 at 8, one entry (0x0112, SHORT, 1, value), next IFD 0. */
const orientationTiff = (o: number) =>
  Uint8Array.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, 0, 0, 0, 0]);
/** Splices an APP1 segment (FF E1, length, "Exif\0\0", TIFF) in right after the JPEG's SOI. */
const withExifApp1 = (jpeg: Uint8Array, o: number) => {
  const payload = [...ascii('Exif\0\0'), ...orientationTiff(o)];
  return Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe1,
    (payload.length + 2) >> 8,
    (payload.length + 2) & 0xff,
    ...payload,
    ...jpeg.subarray(2),
  ]);
};
/** Inserts a chunk right after a PNG's IHDR (signature 8 + IHDR 25 bytes), with its CRC. */
const withPngChunk = (png: Uint8Array, type: string, data: Uint8Array) => {
  const chunk = new Uint8Array(12 + data.length);
  const v = new DataView(chunk.buffer);
  v.setUint32(0, data.length);
  chunk.set([...ascii(type), ...data], 4);
  v.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return Uint8Array.from([...png.subarray(0, 33), ...chunk, ...png.subarray(33)]);
};
/** Block centres of a display image, row by row. */
const blocks = (img: DecodedImage) =>
  Array.from({ length: img.height / 8 }, (_, by) =>
    Array.from({ length: img.width / 8 }, (_, bx) => pixel(img, bx * 8 + 4, by * 8 + 4).slice(0, 3)),
  );
const expectBlocks = (img: DecodedImage, want: number[][][]) => {
  expect([img.width, img.height]).toEqual([want[0].length * 8, want.length * 8]);
  blocks(img).forEach((row, y) => row.forEach((p, x) => expectNear(p, want[y][x], 4)));
};

// cwebp -lossless -exact of a 4×2 RGBA PNG: (255,0,0,255) (0,255,0,128) (0,0,255,0) (200,100,0,64) / four opaque.
const ALPHA_LOSSLESS_WEBP =
  'UklGRkwAAABXRUJQVlA4TEAAAAAvA0AAED9ApG0zE6Pzr/D0NsgELOYVYun0r4BAEIIj7fUagaSN1Z7sPPkDjvdPZjVJkm2BUACNscQSS7+I/gcb';

describe('decodeImage', () => {
  it('tells formats apart by magic bytes, not by the name', async () => {
    const png = await encodePng({ width: 2, height: 1, channels: 3, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
    expect(sniffImageFormat(png)).toBe('png');
    expect(sniffImageFormat(gridJpeg())).toBe('jpeg');
    expect(sniffImageFormat(fromBase64(ALPHA_LOSSLESS_WEBP))).toBe('webp');
    const img = await decodeImage(png, 'holiday.jpg');
    expect([img.format, pixel(img, 1, 0)]).toEqual(['png', [4, 5, 6, 255]]);
  });

  it('turns grey into RGB', async () => {
    const img = await decodeImage(
      await encodePng({ width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 93]) }),
      'grey.png',
    );
    expect(pixel(img, 1, 0)).toEqual([93, 93, 93, 255]);
  });

  it('composites alpha over white and returns the alpha plane beside the opaque pixels', async () => {
    // (c·a + 255·(255 − a)) / 255: grey 0 at a=128 → 127.0; (200,100,0) at a=64 → 241.2, 216.1, 191.0.
    const png = await encodePng({
      width: 3,
      height: 1,
      channels: 4,
      data: Uint8Array.from([0, 0, 0, 128, 200, 100, 0, 64, 9, 8, 7, 255]),
    });
    const img = await decodeImage(png, 'cutout.png');
    expect([pixel(img, 0, 0), pixel(img, 1, 0), pixel(img, 2, 0)]).toEqual([
      [127, 127, 127, 255],
      [241, 216, 191, 255],
      [9, 8, 7, 255],
    ]);
    expect(Array.from(img.alpha ?? [])).toEqual([128, 64, 255]);
    const webp = await decodeImage(fromBase64(ALPHA_LOSSLESS_WEBP), 'cutout.webp');
    expect([pixel(webp, 2, 0), pixel(webp, 3, 0)]).toEqual([
      [255, 255, 255, 255],
      [241, 216, 191, 255],
    ]); // a=0 is pure white
    expect(Array.from(webp.alpha ?? [])).toEqual([255, 128, 0, 64, 255, 255, 255, 255]);
  });

  it('leaves out the alpha plane when every pixel is opaque', async () => {
    expect((await decodeImage(gridJpeg(), 'grid.jpg')).alpha).toBeUndefined();
    expect(
      compositeOverWhite({ width: 1, height: 1, channels: 4, data: Uint8Array.from([1, 2, 3, 255]) }).alpha,
    ).toBeUndefined();
  });

  it('decodes a 1×1 image', async () => {
    const png = await decodeImage(
      await encodePng({ width: 1, height: 1, channels: 3, data: Uint8Array.from([10, 20, 30]) }),
      'dot.png',
    );
    const jpeg = await decodeImage(
      new Uint8Array(jpegJs.encode({ width: 1, height: 1, data: Uint8Array.from([60, 120, 180, 255]) }, 100).data),
      'dot.jpg',
    );
    expect([png.width, png.height, ...pixel(png, 0, 0)]).toEqual([1, 1, 10, 20, 30, 255]);
    expect([jpeg.width, jpeg.height]).toEqual([1, 1]);
    expectNear(pixel(jpeg, 0, 0), [60, 120, 180, 255], 3);
  });

  it('applies the EXIF orientation of a JPEG APP1 segment (3: 180°, 6: 90° clockwise, 8: 90° counter-clockwise)', async () => {
    expectBlocks(await decodeImage(gridJpeg(), 'o1.jpg'), GRID);
    expectBlocks(await decodeImage(withExifApp1(gridJpeg(), 3), 'o3.jpg'), [
      [C, M, Y],
      [B, G, R],
    ]);
    expectBlocks(await decodeImage(withExifApp1(gridJpeg(), 6), 'o6.jpg'), [
      [Y, R],
      [M, G],
      [C, B],
    ]);
    expectBlocks(await decodeImage(withExifApp1(gridJpeg(), 8), 'o8.jpg'), [
      [B, C],
      [G, M],
      [R, Y],
    ]);
  });

  it('applies the orientation of a PNG eXIf chunk and of a WebP EXIF chunk, alpha plane turned too', async () => {
    const png = await encodePng({ width: 24, height: 16, channels: 4, data: gridRgba() });
    expectBlocks(await decodeImage(withPngChunk(png, 'eXIf', orientationTiff(6)), 'o6.png'), [
      [Y, R],
      [M, G],
      [C, B],
    ]);
    // VP8X (EXIF flag 0x08, alpha 0x10, canvas 4×2) + the VP8L chunk of the lossless file + an EXIF chunk.
    const vp8l = fromBase64(ALPHA_LOSSLESS_WEBP).subarray(12);
    const exif = [...ascii('EXIF'), orientationTiff(3).length, 0, 0, 0, ...orientationTiff(3)];
    const body = [...ascii('WEBP'), ...ascii('VP8X'), 10, 0, 0, 0, 0x18, 0, 0, 0, 3, 0, 0, 1, 0, 0, ...vp8l, ...exif];
    const webp = await decodeImage(Uint8Array.from([...ascii('RIFF'), body.length, 0, 0, 0, ...body]), 'o3.webp');
    expect(Array.from(webp.alpha ?? [])).toEqual([255, 255, 255, 255, 64, 0, 128, 255]); // the rows reversed, each row reversed
  });

  it('reports unknown, corrupt and truncated files as bad_image naming the file', async () => {
    const png = await encodePng({ width: 24, height: 16, channels: 4, data: gridRgba() });
    const cases: [Uint8Array, string, RegExp][] = [
      [new Uint8Array(0), 'empty.png', /^empty\.png: not a PNG, JPEG or WebP file/],
      [
        Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff),
        'noise.jpg',
        /^noise\.jpg: not a PNG, JPEG or WebP file/,
      ],
      [
        Uint8Array.from([...ascii('GIF89a'), 1, 0, 1, 0]),
        'anim.gif',
        /^anim\.gif: a GIF file, which is not supported; convert it to PNG or JPEG$/,
      ],
      [png.subarray(0, png.length - 20), 'cut.png', /^cut\.png: cannot decode this PNG image: PNG is truncated/],
      [gridJpeg().subarray(0, 400), 'cut.jpg', /^cut\.jpg: cannot decode this JPEG image: JPEG is truncated/],
      [
        Uint8Array.from([0xff, 0xd8, 0xff, ...new Array(40).fill(7)]),
        'junk.jpg',
        /^junk\.jpg: cannot decode this JPEG image: /,
      ],
      [
        fromBase64(ALPHA_LOSSLESS_WEBP).subarray(0, 50),
        'cut.webp',
        /^cut\.webp: cannot decode this WEBP image: WebP is truncated/,
      ],
    ];
    for (const [bytes, name, message] of cases) {
      const e = await failure(decodeImage(bytes, name));
      expect(e?.code).toBe('bad_image');
      expect(e?.message).toMatch(message);
      expect(e?.file).toBe(name);
    }
  });
});
