import webpDecoderModule from '@jsquash/webp/codec/dec/webp_dec.js';
import { PipelineError } from '../errors.ts';
import type { RgbaImage } from './image.ts';
import { readWebpChunks } from './webp-riff.ts';
import { limits } from '../limits.ts';

const bad = (message: string) => new PipelineError('bad_image', message);

/** A decoded WebP: RGBA as stored (alpha not composited), plus the EXIF TIFF block if the file has one. */
export interface DecodedWebp {
  readonly image: RgbaImage;
  readonly exif?: Uint8Array;
}

/**
 * Decodes a still WebP — lossy (VP8), lossless (VP8L), with or without alpha — to RGBA with libwebp compiled to
 * WebAssembly (the `@jsquash/webp` package, which ships the .wasm and loads it from its own folder, so no network
 * is touched). Animated WebP is refused. Each call gets a fresh wasm instance: the bundled libwebp is 1.1.0,
 * older than the fix for CVE-2023-4863, and a hostile file can then at worst scribble on memory that is thrown
 * away, never on a later image's decode.
 *
 * @example
 * const { image, exif } = await decodeWebp(bytes);
 */
export const decodeWebp = async (bytes: Uint8Array): Promise<DecodedWebp> => {
  const { width, height, animated, exif } = readWebpChunks(bytes);
  if (animated) throw bad('animated WebP is not supported; export one frame as PNG or JPEG');
  // Checked before libwebp runs: WebP allows up to 16384² (1 GiB of RGBA), more than `limits.imagePixels`.
  if (width < 1 || height < 1 || width * height > limits.imagePixels)
    throw bad(`WebP size ${width}×${height} is empty or too large (at most ${limits.imagePixels} pixels)`);
  let decoded: { width: number; height: number; data: Uint8ClampedArray } | null;
  try {
    const libwebp = await webpDecoderModule({ noInitialRun: true });
    decoded = libwebp.decode(bytes);
  } catch (e) {
    throw bad(`libwebp failed on this WebP: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!decoded) throw bad('WebP data is corrupt (libwebp could not decode it)');
  if (decoded.width !== width || decoded.height !== height || decoded.data.length !== width * height * 4) {
    throw bad(`WebP decoded to ${decoded.width}×${decoded.height}, its header says ${width}×${height}`);
  }
  const data = new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength);
  return { image: { width, height, channels: 4, data }, exif };
};
