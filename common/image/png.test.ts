import { describe, expect, it } from 'bun:test';
import { crc32 } from '../crc32.ts';
import { decodePng, encodePng } from './png.ts';

const ascii = (s: string) => new TextEncoder().encode(s);
const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** A chunk assembled byte by byte: length, type, data, CRC-32(type ‖ data). */
const chunk = (type: string, data: ArrayLike<number>) => {
  const body = Uint8Array.from([...ascii(type), ...Array.from(data)]);
  return [...be32(data.length), ...body, ...be32(crc32(body))];
};

const zlib = async (raw: number[]) =>
  Array.from(
    new Uint8Array(
      await new Response(
        new Blob([Uint8Array.from(raw)]).stream().pipeThrough(new CompressionStream('deflate')),
      ).arrayBuffer(),
    ),
  );

/** A whole PNG: signature, IHDR(w, h, depth, colour type, interlace), extra chunks, one IDAT of `scanlines`, IEND. */
const png = async (
  w: number,
  h: number,
  depth: number,
  colorType: number,
  scanlines: number[],
  extra: number[][] = [],
  interlace = 0,
) =>
  Uint8Array.from([
    137,
    80,
    78,
    71,
    13,
    10,
    26,
    10,
    ...chunk('IHDR', [...be32(w), ...be32(h), depth, colorType, 0, 0, interlace]),
    ...extra.flat(),
    ...chunk('IDAT', await zlib(scanlines)),
    ...chunk('IEND', []),
  ]);

/**
 * A zlib bomb: one fixed-Huffman DEFLATE block (RFC 1951 §3.2.6) of a literal 0 then `copies` back-references
 * <length 258, distance 1>, 13 bits each, so 1 + 258·copies zero bytes come from copies·13/8 bytes, then the
 * Adler-32 of those zeros (a = 1, b = their count), making it a valid stream whatever its size.
 */
const zlibBomb = (copies: number): Uint8Array => {
  const out = new Uint8Array(Math.ceil((3 + 8 + 13 * copies + 7) / 8) + 2 + 4);
  out.set([0x78, 0x01]);
  let bit = 16;
  const put = (code: number, n: number) => {
    for (let i = n - 1; i >= 0; i--, bit++) out[bit >> 3] |= ((code >> i) & 1) << (bit & 7); // Huffman codes MSB first
  };
  put(0b110, 3); // BFINAL 1, then BTYPE 01 as written LSB first
  put(0x30, 8); // literal 0
  for (let k = 0; k < copies; k++) put((0xc5 << 5) | 0, 13); // length symbol 285 (258), distance code 0 (1)
  put(0, 7); // end of block
  const n = 1 + 258 * copies;
  new DataView(out.buffer).setUint32(Math.ceil(bit / 8), (((n % 65521) << 16) | 1) >>> 0);
  return out.subarray(0, Math.ceil(bit / 8) + 4);
};

/** A PNG around any IDAT payload, built with typed arrays (the payload may be megabytes). */
const pngAround = (ihdr: number[], idat: Uint8Array): Uint8Array => {
  const typed = (type: string, data: Uint8Array) => {
    const c = new Uint8Array(12 + data.length);
    const v = new DataView(c.buffer);
    v.setUint32(0, data.length);
    c.set(ascii(type), 4);
    c.set(data, 8);
    v.setUint32(8 + data.length, crc32(c.subarray(4, 8 + data.length)));
    return c;
  };
  const parts = [Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10), typed('IHDR', Uint8Array.from(ihdr))];
  parts.push(typed('IDAT', idat), typed('IEND', new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

const grey = (values: number[]) => values.flatMap((v) => [v, v, v, 255]);
const badImage = expect.objectContaining({ code: 'bad_image' });

describe('crc32', () => {
  it('gives IEND its well-known CRC 0xAE426082 and "123456789" the check value 0xCBF43926', () => {
    expect(crc32(ascii('IEND'))).toBe(0xae426082);
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(ascii('6789'), crc32(ascii('12345')))).toBe(0xcbf43926);
  });
});

describe('decodePng', () => {
  it('undoes each of the five filter types in a hand-filtered grey image', async () => {
    // Target rows: [10,20,30] [15,25,40] [20,30,50] [30,30,60] [0,200,100]; each line = filter byte + filtered bytes.
    const scanlines = [
      0,
      10,
      20,
      30, // None
      1,
      15,
      10,
      15, // Sub: x − left
      2,
      5,
      5,
      10, // Up: x − above
      3,
      20,
      0,
      20, // Average: x − ⌊(left+above)/2⌋ = 30−10, 30−30, 60−40
      4,
      226,
      200,
      156, // Paeth: predictors above (30), left (0), left (200) → −30, 200, −100 mod 256
    ];
    const img = await decodePng(await png(3, 5, 8, 0, scanlines));
    expect([img.width, img.height, img.channels]).toEqual([3, 5, 4]);
    expect(Array.from(img.data)).toEqual(grey([10, 20, 30, 15, 25, 40, 20, 30, 50, 30, 30, 60, 0, 200, 100]));
  });

  it('uses whole pixels (4 bytes) as the Sub distance for RGBA', async () => {
    const img = await decodePng(await png(2, 1, 8, 6, [1, 10, 20, 30, 255, 5, 5, 5, 129]));
    expect(Array.from(img.data)).toEqual([10, 20, 30, 255, 15, 25, 35, 128]);
  });

  it('reads RGB and grey+alpha', async () => {
    expect(Array.from((await decodePng(await png(1, 1, 8, 2, [0, 1, 2, 3]))).data)).toEqual([1, 2, 3, 255]);
    expect(Array.from((await decodePng(await png(1, 1, 8, 4, [0, 50, 100]))).data)).toEqual([50, 50, 50, 100]);
  });

  it('reads a 2-bit palette image with tRNS alpha', async () => {
    const plte = chunk('PLTE', [255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const trns = chunk('tRNS', [255, 128]);
    // Indices 2, 0, 1 packed high bits first: 10 00 01 00 = 0x84.
    const img = await decodePng(await png(3, 1, 2, 3, [0, 0x84], [plte, trns]));
    expect(Array.from(img.data)).toEqual([0, 0, 255, 255, 255, 0, 0, 255, 0, 255, 0, 128]);
  });

  it('scales 1-bit grey to 0/255', async () => {
    // Ten pixels 1010101010 → bytes 0b10101010, 0b10000000.
    const img = await decodePng(await png(10, 1, 1, 0, [0, 0xaa, 0x80]));
    expect(Array.from(img.data)).toEqual(grey([255, 0, 255, 0, 255, 0, 255, 0, 255, 0]));
  });

  it('rounds 16-bit samples to 8 bits as v/257 and honours a grey tRNS key', async () => {
    // 0x0000 → 0 (and transparent by the key), 0xFFFF → 255, 0x8080 = 32896 = 128·257 → 128, 0x1234 = 4660 → 18.13 →
    // 18.
    const img = await decodePng(
      await png(4, 1, 16, 0, [0, 0, 0, 0xff, 0xff, 0x80, 0x80, 0x12, 0x34], [chunk('tRNS', [0, 0])]),
    );
    expect(Array.from(img.data)).toEqual([0, 0, 0, 0, 255, 255, 255, 255, 128, 128, 128, 255, 18, 18, 18, 255]);
  });

  it('reassembles an Adam7-interlaced 3×3 image from its passes', async () => {
    const v = (x: number, y: number) => 10 * (3 * y + x) + 5;
    // Passes that reach a 3×3 image (spec §8.2): 1 → (0,0); 4 → (2,0); 5 → (0,2),(2,2); 6 → (1,0) / (1,2);
    // 7 → (0,1),(1,1),(2,1). Passes 2 and 3 are empty and contribute no bytes at all.
    const scanlines = [
      0,
      v(0, 0),
      0,
      v(2, 0),
      0,
      v(0, 2),
      v(2, 2),
      0,
      v(1, 0),
      0,
      v(1, 2),
      0,
      v(0, 1),
      v(1, 1),
      v(2, 1),
    ];
    const img = await decodePng(await png(3, 3, 8, 0, scanlines, [], 1));
    expect(Array.from(img.data)).toEqual(grey([5, 15, 25, 35, 45, 55, 65, 75, 85]));
  });

  it('reports a corrupt byte as a CRC failure', async () => {
    const bytes = await png(3, 1, 8, 0, [0, 1, 2, 3]);
    bytes[bytes.length - 20] ^= 0xff; // inside IDAT
    await expect(decodePng(bytes)).rejects.toThrow(/CRC/);
    await expect(decodePng(bytes)).rejects.toEqual(badImage);
  });

  it('reports truncated files, bad signatures and missing data as bad_image', async () => {
    const bytes = await png(3, 1, 8, 0, [0, 1, 2, 3]);
    await expect(decodePng(bytes.subarray(0, bytes.length - 12))).rejects.toEqual(badImage); // no IEND
    await expect(decodePng(bytes.subarray(0, 40))).rejects.toEqual(badImage);
    await expect(decodePng(Uint8Array.of(1, 2, 3))).rejects.toEqual(badImage);
    // A valid zlib stream holding too few scanline bytes.
    await expect(decodePng(await png(3, 2, 8, 0, [0, 1, 2, 3]))).rejects.toEqual(badImage);
  });

  it('reports garbage zlib data, unknown filters and bad palette indices as bad_image', async () => {
    const garbage = Uint8Array.from([
      137,
      80,
      78,
      71,
      13,
      10,
      26,
      10,
      ...chunk('IHDR', [0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]),
      ...chunk('IDAT', [1, 2, 3, 4, 5]),
      ...chunk('IEND', []),
    ]);
    await expect(decodePng(garbage)).rejects.toEqual(badImage);
    await expect(decodePng(await png(1, 1, 8, 0, [5, 9]))).rejects.toThrow(/filter type 5/);
    await expect(decodePng(await png(1, 1, 8, 3, [0, 3], [chunk('PLTE', [1, 2, 3])]))).rejects.toEqual(badImage);
    await expect(decodePng(await png(1, 1, 3, 0, [0, 0]))).rejects.toThrow(/bit depth 3/);
  });
});

describe('decodePng against hostile files', () => {
  it('stops a zlib bomb (1×1 claimed, 258 MB inflated) at the 2 bytes a 1×1 grey image needs', async () => {
    const bomb = pngAround([...be32(1), ...be32(1), 8, 0, 0, 0, 0], zlibBomb(1_000_000));
    expect(bomb.length).toBeLessThan(2 * 2 ** 20);
    const before = process.memoryUsage().rss;
    await expect(decodePng(bomb)).rejects.toThrow(/inflates past the 2 bytes expected/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
  });

  it('decodes the same kind of stream when the header asks for all of it', async () => {
    // 1 + 258·2 = 517 zero bytes are 11 rows of a 46-pixel grey image with filter bytes (47 each).
    const img = await decodePng(pngAround([...be32(46), ...be32(11), 8, 0, 0, 0, 0], zlibBomb(2)));
    expect([img.width, img.height, img.data[0], img.data[3]]).toEqual([46, 11, 0, 255]);
  });

  it('refuses an IHDR claiming 100000×100000 before inflating anything', async () => {
    // The IDAT is not zlib at all: had it been inflated, the error would say so instead.
    const huge = pngAround([...be32(100_000), ...be32(100_000), 8, 6, 0, 0, 0], Uint8Array.of(1, 2, 3));
    await expect(decodePng(huge)).rejects.toThrow(/100000×100000 is empty or too large/);
    await expect(decodePng(huge)).rejects.toEqual(badImage);
  });
});

describe('encodePng', () => {
  it('round-trips RGBA, RGB and grey through decodePng', async () => {
    const w = 17;
    const h = 9;
    for (const channels of [1, 2, 3, 4] as const) {
      // A smooth ramp plus a hard edge, so several filter types win somewhere.
      const data = Uint8Array.from(
        { length: w * h * channels },
        (_, i) => ((i * 7) % 256) ^ (i % (w * channels) > 20 ? 0x55 : 0),
      );
      const img = await decodePng(await encodePng({ width: w, height: h, channels, data }));
      const expected = Array.from({ length: w * h }, (_, p) => {
        const s = Array.from(data.subarray(p * channels, (p + 1) * channels));
        return channels === 1
          ? [s[0], s[0], s[0], 255]
          : channels === 2
            ? [s[0], s[0], s[0], s[1]]
            : channels === 3
              ? [...s, 255]
              : s;
      }).flat();
      expect(Array.from(img.data)).toEqual(expected);
    }
  });

  it('writes the signature, an IHDR of the right size and type, and the standard IEND', async () => {
    const bytes = await encodePng({ width: 2, height: 3, channels: 3, data: new Uint8Array(18) });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(Array.from(bytes.subarray(8, 33))).toEqual(chunk('IHDR', [0, 0, 0, 2, 0, 0, 0, 3, 8, 2, 0, 0, 0]));
    expect(Array.from(bytes.subarray(bytes.length - 12))).toEqual([0, 0, 0, 0, 73, 69, 78, 68, 0xae, 0x42, 0x60, 0x82]);
  });

  it('rejects data of the wrong length', async () => {
    await expect(encodePng({ width: 2, height: 2, channels: 4, data: new Uint8Array(15) })).rejects.toEqual(
      expect.objectContaining({ code: 'shape_mismatch' }),
    );
  });
});
