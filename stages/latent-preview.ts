import { concatMap, filter, pipe, type OperatorFunction } from 'rxjs';
import type { FrameOf } from '../common/frames.ts';
import type { Denoising } from '../common/generate-state.ts';
import { encodePng } from '../common/image/png.ts';
import { latentToRgb, type LatentFamily, type LatentRgbFactors } from '../common/numerics/latent-rgb.ts';

/**
 * A cheap live preview of x̂₀ per step: a linear latent→RGB map (no VAE run), one pixel per latent cell, as a PNG
 * preview frame. `every` thins it out (1 = every step, 0 = never).
 */
export const latentPreview = (
  factors: LatentFamily | LatentRgbFactors,
  every = 1,
): OperatorFunction<Denoising, FrameOf<'preview'>> =>
  pipe(
    filter((s: Denoising) => every > 0 && s.x0 !== undefined && (s.step % every === 0 || s.remaining.length === 0)),
    concatMap(async (s) => {
      const { width, height, rgba } = latentToRgb(s.x0!, factors);
      const data = await encodePng({
        width,
        height,
        channels: 4,
        data: new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength),
      });
      return {
        type: 'preview' as const,
        runId: s.runId,
        step: s.step,
        of: s.of,
        kind: 'x0' as const,
        width,
        height,
        format: 'png' as const,
        data,
      };
    }),
  );
