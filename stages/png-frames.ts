import { concatMap, from, mergeMap, type OperatorFunction } from 'rxjs';
import type { FrameOf } from '../common/frames.ts';
import type { Decoded } from '../common/generate-state.ts';
import { encodePng } from '../common/image/png.ts';

/** Turns decoded RGBA images into PNG `image` frames, in batch order. */
export const pngFrames = (): OperatorFunction<Decoded, FrameOf<'image'>> =>
  concatMap((d: Decoded) =>
    from(d.images.map((img, index) => ({ img, index }))).pipe(
      mergeMap(
        async ({ img, index }) => ({
          type: 'image' as const,
          runId: d.runId,
          index,
          width: img.width,
          height: img.height,
          png: await encodePng({
            width: img.width,
            height: img.height,
            channels: 4,
            data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength),
          }),
        }),
        1,
      ),
    ),
  );
