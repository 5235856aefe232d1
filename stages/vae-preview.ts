import { concatMap, filter, pipe, type OperatorFunction } from 'rxjs';
import type { FrameOf } from '../common/frames.ts';
import type { Denoising } from '../common/generate-state.ts';
import { encodePng } from '../common/image/png.ts';
import type { Session } from '../weights/session.ts';
import { tensor } from '../common/tensor.ts';
import { runVaeDecoder, toRgba } from '../weights/vae-io.ts';

/** An exact preview: x̂₀ through the VAE decoder every `every` steps (slower than latent-rgb, full size). */
export const vaePreview = (
  decoder: Session,
  scalingFactor: number,
  every: number,
): OperatorFunction<Denoising, FrameOf<'preview'>> =>
  pipe(
    filter((s: Denoising) => s.x0 !== undefined && (s.step % every === 0 || s.remaining.length === 0)),
    concatMap(async (s) => {
      const img = toRgba(
        await runVaeDecoder(
          decoder,
          tensor(
            'float32',
            s.x0!.dims,
            s.x0!.data.map((v) => v / scalingFactor),
          ),
        ),
      );
      const data = await encodePng({
        width: img.width,
        height: img.height,
        channels: 4,
        data: new Uint8Array(img.data.buffer),
      });
      return {
        type: 'preview' as const,
        runId: s.runId,
        step: s.step,
        of: s.of,
        kind: 'x0' as const,
        width: img.width,
        height: img.height,
        format: 'png' as const,
        data,
      };
    }),
  );
