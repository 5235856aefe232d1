import { filter, mergeMap, pipe, type OperatorFunction } from 'rxjs';
import { tensorToWire, type Frame } from '../common/frames.ts';
import type { Denoising } from '../common/generate-state.ts';

/** Per denoising step: a `progress` frame (step, it/s) and, when asked, the raw `latent` tensor. */
export const stepFrames = (latents: boolean): OperatorFunction<Denoising, Frame> =>
  pipe(
    filter((s: Denoising) => s.step > 0),
    mergeMap((s) => {
      const elapsedMs = Date.now() - s.startedAt;
      const progress: Frame = {
        type: 'progress',
        runId: s.runId,
        step: s.step,
        of: s.of,
        phase: 'denoise',
        elapsedMs,
        itPerSec: elapsedMs > 0 ? (s.step * 1000) / elapsedMs : undefined,
      };
      return latents
        ? [
            {
              type: 'latent',
              runId: s.runId,
              step: s.step,
              of: s.of,
              timestep: s.timestep,
              tensor: tensorToWire(s.latents),
            } as Frame,
            progress,
          ]
        : [progress];
    }),
  );
