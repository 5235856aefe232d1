/**
 * An example user stage: decodes image files like the built-in `decode-image`, then turns them grey. It takes and
 * emits the same kinds as `decode-image`, so a description swaps one for the other by changing `use`:
 *
 *     { "use": "./decode-grayscale.ts", "with": { "resolution": 64 } }
 */
import { map, pipe } from 'rxjs';
import { z } from 'zod';
import type { RgbaImage } from '../../common/image/image.ts';
import { defineStage } from '../../pipeline/stream-pipelines/stage-definition.ts';
import { decodeInputImage } from '../../stages/decode-input-image.ts';

/**
 * Grey = w_r·R + w_g·G + w_b·B per pixel (ITU-R BT.601 luma weights by default), rounded, alpha kept.
 * @example grayscale(img, [0.299, 0.587, 0.114])
 */
export const grayscale = (img: RgbaImage, [wr, wg, wb]: readonly [number, number, number]): RgbaImage => {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i += 4) {
    const y = Math.round(wr * img.data[i] + wg * img.data[i + 1] + wb * img.data[i + 2]);
    data[i] = data[i + 1] = data[i + 2] = Math.min(255, y);
    data[i + 3] = img.data[i + 3];
  }
  return { ...img, data };
};

export default defineStage({
  name: 'decode-grayscale',
  summary: 'decode image files and convert them to grey (a drop-in for decode-image)',
  input: 'image-file',
  output: 'image',
  settings: z.strictObject({
    resolution: z.int().min(8).max(4096).nullable().default(null),
    weights: z.tuple([z.number().min(0), z.number().min(0), z.number().min(0)]).default([0.299, 0.587, 0.114]),
  }),
  // A stage is a pipe of smaller ones: the built-in decoder, then one map over each decoded image.
  create: ({ resolution, weights }) =>
    pipe(
      decodeInputImage({ resolution }),
      map((item) => ({ ...item, image: grayscale(item.image, weights) })),
    ),
});
