import { describe, expect, it } from 'bun:test';
import { firstValueFrom, from, toArray } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import type { RgbaImage } from '../common/image/image.ts';
import { createRng } from '../common/numerics/rng.ts';
import { prepareImage, prepareImagePixels, type PrepareImageOptions } from './prepare-image.ts';

/** W×H image whose pixel (x, y) has R = 10·x + y, G = 100 + y, B = 7, A = 255. */
const coords = (width: number, height: number): RgbaImage => ({
  width,
  height,
  channels: 4,
  data: Uint8Array.from(
    Array.from({ length: width * height }, (_, p) => [
      10 * (p % width) + Math.floor(p / width),
      100 + Math.floor(p / width),
      7,
      255,
    ]).flat(),
  ),
});
/** The R plane of a [1, 3, R, R] tensor, back in bytes (x = byte/127.5 − 1). */
const redBytes = (t: { dims: readonly number[]; data: Float32Array }) => {
  const plane = t.dims[2] * t.dims[3];
  return Array.from(t.data.subarray(0, plane), (v) => Math.round((v + 1) * 127.5));
};
/** An rng that replays fixed draws and records what was asked of it. */
const scripted = (uniforms: number[], ints: number[]) => {
  const calls: string[] = [];
  return {
    calls,
    rng: {
      uniform: () => (calls.push('uniform'), uniforms.shift()!),
      int: (n: number) => (calls.push(`int(${n})`), ints.shift()!),
    },
  };
};
const opts = (o: Partial<PrepareImageOptions>): PrepareImageOptions => ({
  resolution: 2,
  crop: 'center',
  flipProbability: 0,
  rng: createRng(0),
  ...o,
});

describe('prepareImagePixels', () => {
  it('centre-crops an image whose shorter side is already R, giving float [1, 3, R, R] = byte/127.5 − 1', () => {
    // 4×2, R = 2: no resize; the centre square starts at x = ⌊(4 − 2)/2⌋ = 1, so R = 10·x + y reads 10 20 / 11 21.
    const t = prepareImagePixels(coords(4, 2), opts({}));
    expect(t.dims).toEqual([1, 3, 2, 2]);
    expect(redBytes(t)).toEqual([10, 20, 11, 21]);
    expect(t.data[4]).toBeCloseTo(100 / 127.5 - 1, 6); // G plane, (0, 0)
    expect(t.data[8]).toBeCloseTo(7 / 127.5 - 1, 6); // B plane
  });

  it('mirrors when the flip draw falls below flipProbability, and not otherwise', () => {
    const flipped = prepareImagePixels(coords(4, 2), opts({ flipProbability: 0.5, rng: scripted([0.49], []).rng }));
    const kept = prepareImagePixels(coords(4, 2), opts({ flipProbability: 0.5, rng: scripted([0.5], []).rng }));
    expect(redBytes(flipped)).toEqual([20, 10, 21, 11]);
    expect(redBytes(kept)).toEqual([10, 20, 11, 21]);
  });

  it('places a random crop with one int draw per axis, after the flip draw', () => {
    const { calls, rng } = scripted([0.9], [2, 0]);
    const t = prepareImagePixels(coords(4, 2), opts({ crop: 'random', flipProbability: 0.5, rng }));
    expect(calls).toEqual(['uniform', 'int(3)', 'int(1)']); // 4 − 2 + 1 columns, 2 − 2 + 1 rows to choose from
    expect(redBytes(t)).toEqual([20, 30, 21, 31]);
  });

  it('resizes the shorter side to R before cropping, keeping the aspect ratio', () => {
    // 8×4 with R = 10·x, R = 2, area filter: halving averages column pairs, 10·(2x′ + ½) = 20x′ + 5, giving a 4×2
    // image; its centre square is x′ = 1, 2 → 25, 45. Squashing 8×4 straight to 2×2 would give 15, 55 instead.
    const bands: RgbaImage = {
      width: 8,
      height: 4,
      channels: 4,
      data: Uint8Array.from(Array.from({ length: 32 }, (_, p) => [10 * (p % 8), 0, 0, 255]).flat()),
    };
    const t = prepareImagePixels(bands, opts({ filter: 'area' }));
    expect(t.dims).toEqual([1, 3, 2, 2]);
    expect(redBytes(t)).toEqual([25, 45, 25, 45]);
  });

  it('uses bicubic by default, which keeps a flat image flat', () => {
    const flat: RgbaImage = {
      width: 8,
      height: 4,
      channels: 4,
      data: Uint8Array.from(new Array(32).fill([51, 102, 204, 255]).flat()),
    };
    const t = prepareImagePixels(flat, opts({}));
    [51, 102, 204].forEach((v, c) =>
      t.data.subarray(4 * c, 4 * c + 4).forEach((x) => expect(x).toBeCloseTo(v / 127.5 - 1, 6)),
    );
  });

  it('scales a 1×1 image up to R×R', () => {
    const dot: RgbaImage = { width: 1, height: 1, channels: 4, data: Uint8Array.from([255, 0, 51, 255]) };
    const t = prepareImagePixels(dot, opts({ resolution: 3 }));
    expect(t.dims).toEqual([1, 3, 3, 3]);
    expect(redBytes(t)).toEqual(new Array(9).fill(255));
  });

  it('refuses a resolution that is not a positive integer or a flip probability outside [0, 1]', () => {
    expect(() => prepareImagePixels(coords(2, 2), opts({ resolution: 0 }))).toThrow(PipelineError);
    expect(() => prepareImagePixels(coords(2, 2), opts({ flipProbability: 1.5 }))).toThrow(PipelineError);
  });
});

describe('prepareImage', () => {
  it('keeps names and order and draws from the rng in stream order, like the pure function', async () => {
    const images = [coords(5, 3), coords(3, 4), coords(6, 6)].map((rgba, i) => ({ name: `img${i}.png`, rgba }));
    const o = { resolution: 3, crop: 'random' as const, flipProbability: 0.5 };
    const out = await firstValueFrom(from(images).pipe(prepareImage({ ...o, rng: createRng(11) }), toArray()));
    const rng = createRng(11);
    const direct = images.map(({ rgba }) => prepareImagePixels(rgba, { ...o, rng }));
    expect(out.map((x) => x.name)).toEqual(['img0.png', 'img1.png', 'img2.png']);
    out.forEach((x, i) => expect(Array.from(x.pixels.data)).toEqual(Array.from(direct[i].data)));
  });
});
