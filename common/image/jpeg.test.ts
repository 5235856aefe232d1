import { describe, expect, it } from 'bun:test';
import jpegJs from 'jpeg-js';
import { PipelineError } from '../errors.ts';
import { decodeJpeg } from './jpeg.ts';
import { readJpegMarkers } from './jpeg-markers.ts';

/**
 * A hand-assembled baseline JPEG of flat 8×8 blocks, one MCU per block, every component sampled 1×1. With all
 * quantisers 1 and only a DC coefficient, F₀₀ = 8·(v − 128) (T.81 A.3.3: the 2-D DCT of a constant block is 8×
 * its level-shifted value) and the inverse DCT gives v back exactly, so expected pixels are known without any
 * decoder. Huffman tables: DC categories 0–11 all get 4-bit codes 0000…1011; AC has one symbol, EOB, code '0'.
 */
const flatJpeg = (o: {
  ids: number[];
  mcus: number[][];
  adobe?: number;
  sof?: number;
  precision?: number;
}): Uint8Array => {
  const n = o.ids.length;
  const seg = (marker: number, body: number[]) => [
    0xff,
    marker,
    (body.length + 2) >> 8,
    (body.length + 2) & 0xff,
    ...body,
  ];
  const bits: number[] = [];
  const put = (value: number, count: number) => {
    for (let i = count - 1; i >= 0; i--) bits.push((value >> i) & 1);
  };
  const prev = new Array(n).fill(0);
  for (const mcu of o.mcus) {
    mcu.forEach((v, c) => {
      const diff = 8 * (v - 128) - prev[c];
      prev[c] += diff;
      const cat = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
      put(cat, 4);
      put(diff >= 0 ? diff : diff + (1 << cat) - 1, cat); // negative differences are sent as diff + 2^cat − 1
      put(0, 1); // EOB
    });
  }
  while (bits.length % 8) bits.push(1);
  const scan: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    const byte = bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0);
    scan.push(byte, ...(byte === 0xff ? [0] : [])); // byte stuffing
  }
  const width = 8 * o.mcus.length;
  return Uint8Array.from([
    0xff,
    0xd8,
    ...(o.adobe === undefined ? [] : seg(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, o.adobe])),
    ...seg(0xdb, [0, ...new Array(64).fill(1)]),
    ...seg(o.sof ?? 0xc0, [
      o.precision ?? 8,
      0,
      8,
      width >> 8,
      width & 0xff,
      n,
      ...o.ids.flatMap((id) => [id, 0x11, 0]),
    ]),
    ...seg(0xc4, [0x00, 0, 0, 0, 12, ...new Array(12).fill(0), ...Array.from({ length: 12 }, (_, i) => i)]),
    ...seg(0xc4, [0x10, 1, ...new Array(15).fill(0), 0x00]),
    ...seg(0xda, [n, ...o.ids.flatMap((id) => [id, 0x00]), 0, 63, 0]),
    ...scan,
    0xff,
    0xd9,
  ]);
};

const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const expectNear = (got: number[], want: number[], tol: number) =>
  want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(tol));
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof PipelineError ? `${e.code}: ${e.message}` : `other: ${e}`;
  }
  return 'no error';
};

/** The 16×16 test card: four 8×8 blocks, top row (200,40,30) (20,180,60), bottom row (30,50,220) (250,240,20). */
const CARD = [
  [200, 40, 30],
  [20, 180, 60],
  [30, 50, 220],
  [250, 240, 20],
];
const cardCorners = (img: { width: number; data: Uint8Array }) => [
  pixel(img, 3, 3),
  pixel(img, 12, 3),
  pixel(img, 3, 12),
  pixel(img, 12, 12),
];

// ImageMagick 6.9.11: `convert card.png -colorspace CMYK -quality 95 ycck.jpg`. libjpeg stores CMYK input as YCCK
// (Adobe transform 2) and ImageMagick writes the ink inverted, as Photoshop does.
const YCCK_CARD =
  '/9j/7gAOQWRvYmUAZAAAAAAC/9sAQwACAQEBAQECAQEBAgICAgIEAwICAgIFBAQDBAYFBgYGBQYGBgcJCAYHCQcGBggLCAkKCgoKCgYICwwLCgwJCgoK/9sAQwECAgICAgIFAwMFCgcGBwoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoK/8AAFAgAEAAQBAERAAIRAQMRAQQRAP/EABcAAAMBAAAAAAAAAAAAAAAAAAcICQr/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFwEAAwEAAAAAAAAAAAAAAAAACAkKBf/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAOBAEAAhEDEQQAAD8AIApCY1ICNthZYF6vCast80DNetgBmPD/2Q==';
// ImageMagick 6.9.11: `convert card.png -interlace JPEG -quality 95 progressive.jpg` (SOF2).
const PROGRESSIVE_CARD =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wgARCAAQABADAREAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwYJ/8QAFwEAAwEAAAAAAAAAAAAAAAAABwgJAv/aAAwDAQACEAMQAAABLR+0V9maIi+Rc02jeXv/xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAEFAh//xAAUEQEAAAAAAAAAAAAAAAAAAAAg/9oACAEDAQE/AR//xAAUEQEAAAAAAAAAAAAAAAAAAAAg/9oACAECAQE/AR//xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAY/Ah//xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAE/IR//2gAMAwEAAgADAAAAEAAP/8QAFBEBAAAAAAAAAAAAAAAAAAAAIP/aAAgBAwEBPxAf/8QAFBEBAAAAAAAAAAAAAAAAAAAAIP/aAAgBAgEBPxAf/8QAFBABAAAAAAAAAAAAAAAAAAAAIP/aAAgBAQABPxAf/9k=';

describe('readJpegMarkers', () => {
  it('reads the frame size, component ids and Adobe transform before the first scan', () => {
    const info = readJpegMarkers(
      flatJpeg({
        ids: [1, 2, 3, 4],
        mcus: [
          [10, 20, 30, 40],
          [50, 60, 70, 80],
        ],
        adobe: 2,
      }),
    );
    expect(info).toMatchObject({
      frame: 0xc0,
      precision: 8,
      width: 16,
      height: 8,
      componentIds: [1, 2, 3, 4],
      adobeTransform: 2,
    });
    expect(info.exif).toBeUndefined();
  });

  it('reports a file whose end-of-image marker is missing as truncated', () => {
    const whole = flatJpeg({ ids: [1], mcus: [[90]] });
    expect(codeOf(() => readJpegMarkers(whole.subarray(0, whole.length - 2)))).toBe(
      'bad_image: JPEG is truncated: the end-of-image marker (FF D9) is missing',
    );
    expect(codeOf(() => readJpegMarkers(whole.subarray(0, 40)))).toMatch(
      /^bad_image: JPEG is truncated inside the segment/,
    );
  });
});

describe('decodeJpeg', () => {
  it('decodes the hand-assembled flat JPEG exactly, so the test writer itself is right', () => {
    const { image } = decodeJpeg(
      flatJpeg({
        ids: [1, 2, 3],
        mcus: [
          [128, 128, 128],
          [200, 128, 128],
        ],
      }),
    );
    expect([image.width, image.height]).toEqual([16, 8]);
    expect(pixel(image, 0, 0)).toEqual([128, 128, 128, 255]);
    expect(pixel(image, 15, 7)).toEqual([200, 200, 200, 255]); // Y = 200, no chroma
  });

  it('turns a one-component (grey) JPEG into R = G = B', () => {
    const { image } = decodeJpeg(flatJpeg({ ids: [1], mcus: [[77], [3]] }));
    expect(pixel(image, 2, 5)).toEqual([77, 77, 77, 255]);
    expect(pixel(image, 9, 1)).toEqual([3, 3, 3, 255]);
  });

  it('reads three components as RGB when the Adobe transform is 0 or the ids are R, G, B', () => {
    const adobe = decodeJpeg(flatJpeg({ ids: [1, 2, 3], mcus: [[200, 40, 30]], adobe: 0 })).image;
    const named = decodeJpeg(flatJpeg({ ids: [0x52, 0x47, 0x42], mcus: [[20, 180, 60]] })).image;
    expect(pixel(adobe, 4, 4)).toEqual([200, 40, 30, 255]);
    expect(pixel(named, 4, 4)).toEqual([20, 180, 60, 255]);
  });

  it('converts inverted Adobe CMYK (transform 0) with R = 255·(1 − C)(1 − K)', () => {
    // Inks C 20 %, M 60 %, Y 0 %, K 64/255, stored inverted (255 − ink) as Photoshop writes them.
    const ink = [51, 153, 0, 64];
    const { image } = decodeJpeg(flatJpeg({ ids: [1, 2, 3, 4], mcus: [ink.map((v) => 255 - v)], adobe: 0 }));
    const k = 1 - ink[3] / 255;
    expectNear(pixel(image, 1, 1), [255 * (1 - 0.2) * k, 255 * (1 - 0.6) * k, 255 * k, 255], 1);
  });

  it('converts YCCK (Adobe transform 2): YCbCr → inverted CMY by the JFIF matrix, K inverted', () => {
    // Stored Y, Cb, Cr, K. JFIF (T.871 §7): R' = Y + 1.402(Cr−128), G' = Y − 0.344136(Cb−128) − 0.714136(Cr−128),
    // B' = Y + 1.772(Cb−128); R' is the ink of C (libjpeg's YCCK stores 255 − stored C), ink K = 255 − stored K.
    const [y, cb, cr, kStored] = [100, 90, 160, 205];
    const inks = [y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)];
    const k = (255 - kStored) / 255;
    const { image } = decodeJpeg(flatJpeg({ ids: [1, 2, 3, 4], mcus: [[y, cb, cr, kStored]], adobe: 2 }));
    expectNear(pixel(image, 6, 2), [...inks.map((c) => 255 * (1 - c / 255) * (1 - k)), 255], 1.5);
  });

  it('decodes a YCCK file written by ImageMagick back to the card colours it was made from', () => {
    cardCorners(decodeJpeg(fromBase64(YCCK_CARD)).image).forEach((p, i) => expectNear(p, [...CARD[i], 255], 3));
  });

  it('decodes a progressive JPEG', () => {
    const bytes = fromBase64(PROGRESSIVE_CARD);
    expect(readJpegMarkers(bytes).frame).toBe(0xc2);
    cardCorners(decodeJpeg(bytes).image).forEach((p, i) => expectNear(p, [...CARD[i], 255], 3));
  });

  it('decodes a baseline YCbCr JPEG from the jpeg-js encoder', () => {
    const data = new Uint8Array(16 * 16 * 4);
    for (let p = 0; p < 256; p++) data.set([...CARD[(p >> 4 >= 8 ? 2 : 0) + ((p & 15) >= 8 ? 1 : 0)], 255], p * 4);
    const bytes = new Uint8Array(jpegJs.encode({ width: 16, height: 16, data }, 100).data);
    cardCorners(decodeJpeg(bytes).image).forEach((p, i) => expectNear(p, [...CARD[i], 255], 3));
  });

  it('refuses arithmetic-coded, lossless and 12-bit JPEGs and CMYK without an Adobe marker', () => {
    const grey = { ids: [1], mcus: [[90]] };
    expect(codeOf(() => decodeJpeg(flatJpeg({ ...grey, sof: 0xc9 })))).toMatch(/^bad_image: arithmetic-coded JPEG/);
    expect(codeOf(() => decodeJpeg(flatJpeg({ ...grey, sof: 0xc3 })))).toMatch(/^bad_image: lossless JPEG/);
    expect(codeOf(() => decodeJpeg(flatJpeg({ ...grey, precision: 12 })))).toBe(
      'bad_image: 12-bit JPEG is not supported, only 8-bit',
    );
    expect(codeOf(() => decodeJpeg(flatJpeg({ ids: [1, 2, 3, 4], mcus: [[1, 2, 3, 4]] })))).toMatch(
      /^bad_image: 4-component \(CMYK\) JPEG without an Adobe/,
    );
  });

  it('reports corrupt scan data as bad_image, not a crash', () => {
    const bytes = flatJpeg({
      ids: [1, 2, 3],
      mcus: [
        [10, 20, 30],
        [40, 50, 60],
      ],
    });
    const sos = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xda);
    bytes.set([0xff, 0xc4, 0xff, 0xc4], sos + 12); // markers where Huffman codes should be
    expect(codeOf(() => decodeJpeg(bytes))).toMatch(/^bad_image: JPEG data is corrupt/);
  });
});
