/** Small synthetic concept images for training tests: a coloured disc on a background, as PNG files. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../common/image/png.ts';

export const discImage = async (
  size: number,
  cx: number,
  cy: number,
  r: number,
  rgb: [number, number, number],
  bg: [number, number, number],
) => {
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      const c = inside ? rgb : bg;
      data.set([c[0], c[1], c[2], 255], (y * size + x) * 4);
    }
  return encodePng({ width: size, height: size, channels: 4, data });
};

/** A temp folder with `n` images of a red disc on blue at slightly different places. */
export const conceptFolder = async (n = 4, size = 64): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), 'pseudoword-concept-'));
  for (let i = 0; i < n; i++)
    writeFileSync(
      join(dir, `img${i}.png`),
      await discImage(size, size / 2 + (i - n / 2) * 3, size / 2, size / 4, [220, 30, 30], [20, 40, 200]),
    );
  return dir;
};
