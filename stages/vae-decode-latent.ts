import { concatMap, type OperatorFunction } from 'rxjs';
import type { ImageItem, LatentItem } from '../common/stream-items.ts';
import type { Session } from '../weights/session.ts';
import { tensor } from '../common/tensor.ts';
import { runVaeDecoder, toRgba } from '../weights/vae-io.ts';

/**
 * Latent → image: x = D(z / s), s the VAE scaling factor, to RGBA8 with the same rounding as the generate
 * pipeline's final decode, so a generation and a decoded latent agree to the byte.
 * @example latents$.pipe(vaeDecodeLatent(decoder, 0.18215))
 */
export const vaeDecodeLatent = (decoder: Session, scalingFactor: number): OperatorFunction<LatentItem, ImageItem> =>
  concatMap(async (item) => {
    const z = tensor(
      'float32',
      item.latents.dims,
      item.latents.data.map((v) => v / scalingFactor),
    );
    const { width, height, data } = toRgba(await runVaeDecoder(decoder, z));
    return {
      index: item.index,
      name: item.name,
      image: {
        width,
        height,
        channels: 4 as const,
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      },
    };
  });
