import { describe, expect, it } from 'bun:test';
import { float32 } from '../tensor.ts';
import { resize, resizeShorter } from './resample.ts';
import {
  centerCrop,
  crop,
  flipHorizontal,
  randomCrop,
  rgbaToTensor,
  tensorToRgba,
  tileGrid,
  type RgbaImage,
} from './image.ts';

/** An image whose pixel (x, y) is (x, y, 10·x + y, 255), so positions can be read back from the bytes. */
const coords = (width: number, height: number): RgbaImage => ({
  width,
  height,
  channels: 4,
  data: Uint8Array.from({ length: width * height * 4 }, (_, i) => {
    const p = i >> 2;
    const [x, y] = [p % width, Math.floor(p / width)];
    return [x, y, 10 * x + y, 255][i & 3];
  }),
});
const rgba = (width: number, height: number, pixels: number[][]): RgbaImage => ({
  width,
  height,
  channels: 4,
  data: Uint8Array.from(pixels.flat()),
});
const at = (img: RgbaImage, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

describe('rgbaToTensor / tensorToRgba', () => {
  it('maps bytes to [−1, 1] as byte/127.5 − 1, channel-major, dropping alpha', () => {
    const t = rgbaToTensor(
      rgba(2, 1, [
        [0, 255, 51, 7],
        [255, 0, 204, 0],
      ]),
    );
    expect(t.dims).toEqual([1, 3, 1, 2]);
    // R plane, G plane, B plane: 51/127.5 − 1 = −0.6, 204/127.5 − 1 = 0.6.
    const want = [-1, 1, 1, -1, -0.6, 0.6];
    want.forEach((v, i) => expect(t.data[i]).toBeCloseTo(v, 6));
  });

  it('maps [−1, 1] back to bytes as round((x+1)/2·255), clamping outside values', () => {
    const t = float32([1, 3, 1, 2], [-1, 1, 0, 2, -0.6, -3]);
    // R: 0, 255; G: 127.5 → 128, clamp → 255; B: 0.2·255 = 51, clamp → 0.
    expect(Array.from(tensorToRgba(t).data)).toEqual([0, 128, 51, 255, 255, 255, 0, 255]);
  });

  it('round-trips every byte value', () => {
    const img = rgba(
      256,
      1,
      Array.from({ length: 256 }, (_, v) => [v, 255 - v, v, 255]),
    );
    expect(Array.from(tensorToRgba(rgbaToTensor(img)).data)).toEqual(Array.from(img.data));
  });

  it('stacks a batch and picks one image back out', () => {
    const t = rgbaToTensor([rgba(1, 1, [[0, 0, 0, 255]]), rgba(1, 1, [[255, 255, 255, 255]])]);
    expect(t.dims).toEqual([2, 3, 1, 1]);
    expect(at(tensorToRgba(t, 1), 0, 0)).toEqual([255, 255, 255, 255]);
    expect(() => rgbaToTensor([rgba(1, 1, [[0, 0, 0, 0]]), coords(2, 1)])).toThrow(
      expect.objectContaining({ code: 'shape_mismatch' }),
    );
  });
});

describe('resize', () => {
  it('averages blocks exactly with the area filter', () => {
    const img = rgba(2, 2, [
      [0, 10, 100, 255],
      [20, 30, 100, 255],
      [40, 50, 100, 255],
      [60, 70, 100, 255],
    ]);
    expect(at(resize(img, 1, 1, 'area'), 0, 0)).toEqual([30, 40, 100, 255]);
  });

  it('interpolates 2 → 4 pixels bilinearly with half-pixel centres', () => {
    // Output centres at 0.25, 0.75, 1.25, 1.75 input px: weights (1), (¾, ¼), (¼, ¾), (1) after edge clamping.
    const out = resize(
      rgba(2, 1, [
        [0, 0, 0, 255],
        [200, 100, 40, 255],
      ]),
      4,
      1,
      'bilinear',
    );
    expect(Array.from(out.data)).toEqual([0, 0, 0, 255, 50, 25, 10, 255, 150, 75, 30, 255, 200, 100, 40, 255]);
  });

  it('does not bleed the colour of transparent pixels', () => {
    const out = resize(
      rgba(2, 1, [
        [255, 0, 0, 0],
        [0, 0, 255, 255],
      ]),
      1,
      1,
      'area',
    );
    expect(at(out, 0, 0)).toEqual([0, 0, 255, 128]);
  });

  it('scales the shorter side to the requested size', () => {
    const out = resizeShorter(coords(8, 6), 3);
    expect([out.width, out.height]).toEqual([4, 3]);
  });
});

describe('crops and flips', () => {
  it('center-crops at ⌊(W−w)/2⌋, ⌊(H−h)/2⌋', () => {
    const c = centerCrop(coords(5, 4), 2, 2);
    expect(at(c, 0, 0)).toEqual([1, 1, 11, 255]);
    expect(at(c, 1, 1)).toEqual([2, 2, 22, 255]);
  });

  it('random-crops at the offsets the rng picks', () => {
    const picks = [3, 1];
    const seen: number[] = [];
    const c = randomCrop(coords(6, 4), 2, 2, { int: (n) => (seen.push(n), picks.shift()!) });
    expect(seen).toEqual([5, 3]); // W − w + 1 and H − h + 1 choices
    expect(at(c, 0, 0)).toEqual([3, 1, 31, 255]);
  });

  it('refuses a crop that does not fit', () => {
    expect(() => crop(coords(3, 3), 2, 0, 2, 2)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => randomCrop(coords(3, 3), 4, 1, { int: () => 0 })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });

  it('mirrors left and right', () => {
    const f = flipHorizontal(coords(3, 2));
    expect(at(f, 0, 1)).toEqual([2, 1, 21, 255]);
    expect(at(f, 2, 0)).toEqual([0, 0, 0, 255]);
  });
});

describe('tileGrid', () => {
  it('places images row by row with gaps and a background', () => {
    const a = rgba(1, 1, [[1, 1, 1, 255]]);
    const b = rgba(2, 1, [
      [2, 2, 2, 255],
      [3, 3, 3, 255],
    ]);
    const g = tileGrid([a, b, a], 2, { gap: 1, background: [9, 9, 9, 0] });
    // Cells 2×1, two columns, one pixel gaps: width 2+1+2 = 5, height 1+1+1 = 3.
    expect([g.width, g.height]).toEqual([5, 3]);
    expect(at(g, 0, 0)).toEqual([1, 1, 1, 255]);
    expect(at(g, 1, 0)).toEqual([9, 9, 9, 0]);
    expect(at(g, 3, 0)).toEqual([2, 2, 2, 255]);
    expect(at(g, 4, 0)).toEqual([3, 3, 3, 255]);
    expect(at(g, 0, 1)).toEqual([9, 9, 9, 0]);
    expect(at(g, 0, 2)).toEqual([1, 1, 1, 255]);
  });
});
