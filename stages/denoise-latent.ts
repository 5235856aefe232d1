import { concatMap, last, map, of, tap, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import type { Conditioned, Denoising, Predicted } from '../common/generate-state.ts';
import { sdxlTimeIdsTensor } from '../common/micro-conditioning.ts';
import type { GenerateRequest } from '../common/requests.ts';
import type { LatentItem } from '../common/stream-items.ts';
import type { Session } from '../weights/session.ts';
import { denoise } from './denoise.ts';
import { predictNoise } from './predict-noise.ts';

/** What the denoiser needs: the UNet, the sampler, the encoded prompt and the request its numbers come from. */
export interface DenoiseLatentOptions {
  readonly unet: Session;
  /** The sampler's update (`ddimStep`, `samplerStep`) and the schedule it walks. */
  readonly sampler: {
    readonly update: OperatorFunction<Predicted, Denoising>;
    timesteps(numSteps: number): readonly number[];
  };
  /**
   * Text-encoder states of the prompt and the negative prompt, [1, 77, D] each; for SDXL also the pooled prompts
   * (`added`; its time ids are replaced by each latent's, from its pixel size and the request).
   */
  readonly text: Pick<Conditioned, 'cond' | 'uncond' | 'added'>;
  /** Guidance, η and prompts; `steps` and `seed` are taken from each latent. */
  readonly request: GenerateRequest;
  readonly runId: string;
  /** The model's downsampling factor (the job's pixel size is the latent's times this). */
  readonly vaeScale: number;
  /** Called after every step. */
  readonly onStep?: (step: number, of: number) => void;
}

/**
 * Runs the timesteps a noised latent still has (see `noiseToStrength`) through the generate pipeline's own loop
 * — UNet with classifier-free guidance, then the sampler's update, fed back — and emits the clean latent. A latent
 * with nothing left to run passes through unchanged; one whose timesteps are not the tail of this sampler's
 * schedule (noised for another sampler) is refused.
 * @example latents$.pipe(noiseToStrength(sampler, { strength: 0.6, steps: 50, seed: 0 }), denoiseLatent({ unet,
 * sampler, text, request, runId, vaeScale: 8 }))
 */
export const denoiseLatent = (o: DenoiseLatentOptions): OperatorFunction<LatentItem, LatentItem> =>
  concatMap((item) => {
    const remaining = item.remaining ?? [];
    if (!remaining.length) return of(item);
    const steps = item.steps ?? remaining.length;
    const tail = o.sampler.timesteps(steps).slice(-remaining.length);
    if (tail.length !== remaining.length || tail.some((t, i) => t !== remaining[i]))
      throw new PipelineError(
        'bad_request',
        `latent ${item.name ?? item.index}: its timesteps (${remaining.slice(0, 3).join(', ')}, …) are not this sampler's; noise-to-strength and denoise must use the same sampler`,
      );
    const [, , h, w] = item.latents.dims;
    const request = { ...o.request, steps, seed: item.seed ?? o.request.seed };
    const [width, height] = [w * o.vaeScale, h * o.vaeScale];
    const start: Denoising = {
      runId: o.runId,
      request,
      width,
      height,
      startedAt: Date.now(),
      ...o.text,
      // SDXL's micro-conditioning defaults to the image's own size, as in diffusers' img2img pipeline.
      ...(o.text.added ? { added: { ...o.text.added, timeIds: sdxlTimeIdsTensor(request, width, height) } } : {}),
      step: steps - remaining.length,
      of: steps,
      remaining,
      timestep: remaining[0],
      latents: item.latents,
    };
    return of(start).pipe(
      denoise(predictNoise(o.unet), o.sampler.update),
      tap((s) => o.onStep?.(s.step, s.of)),
      last(),
      map((s): LatentItem => ({ index: item.index, name: item.name, latents: s.latents, timestep: 0 })),
    );
  });
