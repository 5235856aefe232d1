import { describe, expect, test } from 'bun:test';
import { crop, flipHorizontal, rgbaToTensor, type RgbaImage } from '../image/image.ts';
import { resizeShorter } from '../image/resample.ts';
import { createRng } from '../numerics/rng.ts';
import { prepareImagePixels } from '../../stages/prepare-image.ts';
import { trainingTimeIds } from './training-time-ids.ts';

const noise = (width: number, height: number): RgbaImage => {
  const rng = createRng(width * 1000 + height);
  return { width, height, channels: 4, data: Uint8Array.from({ length: width * height * 4 }, () => rng.int(256)) };
};
const pixels = (img: RgbaImage, flip: boolean) =>
  Array.from(
    prepareImagePixels(img, {
      resolution: 32,
      crop: 'center',
      flipProbability: flip ? 1 : 0,
      rng: { int: () => 0, uniform: () => 0.5 },
    }).data,
  );

describe('SDXL time ids of a training image', () => {
  test('name the original size, the corner of the crop the training image actually is, and the target size', () => {
    for (const [w, h] of [
      [100, 60],
      [61, 97],
      [45, 45],
      [33, 80],
    ]) {
      const img = noise(w, h);
      const [plain, mirrored] = trainingTimeIds(img, 32);
      expect([plain.slice(0, 2), plain.slice(4)]).toEqual([
        [h, w],
        [32, 32],
      ]);
      // The window at (left, top) of the resized image is exactly the training image; its mirror is the window at
      // the mirrored corner of the mirrored resized image.
      const resized = resizeShorter(img, 32, 'bicubic');
      const [top, left] = plain.slice(2, 4);
      expect(Array.from(rgbaToTensor(crop(resized, left, top, 32, 32)).data)).toEqual(pixels(img, false));
      const [top2, left2] = mirrored.slice(2, 4);
      expect(top2).toBe(top);
      expect(Array.from(rgbaToTensor(crop(flipHorizontal(resized), left2, top2, 32, 32)).data)).toEqual(
        pixels(img, true),
      );
    }
  });

  test('a landscape image 1024×768 at 512: original (768, 1024), crop (0, 85), mirrored (0, 86), target (512, 512)', () => {
    // resized 683×512 (round(1024·512/768) = 683); left ⌊(683 − 512)/2⌋ = 85; mirrored 683 − 512 − 85 = 86.
    expect(trainingTimeIds({ width: 1024, height: 768 }, 512)).toEqual([
      [768, 1024, 0, 85, 512, 512],
      [768, 1024, 0, 86, 512, 512],
    ]);
  });
});
