import { concatMap, type OperatorFunction } from 'rxjs';
import type { Decoded, Denoising } from '../common/generate-state.ts';
import type { Session } from '../weights/session.ts';
import { tensor } from '../common/tensor.ts';
import { runVaeDecoder, toRgba } from '../weights/vae-io.ts';

/** Decodes the final latent: x = D(z / s), s the VAE scaling factor (0.18215 for SD1.x/2.x), to RGBA8. */
export const vaeDecode = (decoder: Session, scalingFactor: number): OperatorFunction<Denoising, Decoded> =>
  concatMap(async (s) => {
    const z = tensor(
      'float32',
      s.latents.dims,
      s.latents.data.map((v) => v / scalingFactor),
    );
    const img = await runVaeDecoder(decoder, z);
    return { ...s, images: Array.from({ length: img.dims[0] }, (_, i) => toRgba(img, i)) };
  });
