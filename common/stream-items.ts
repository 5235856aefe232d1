/**
 * What flows between the stages of a described pipeline. Every stage says which kind it takes and which it
 * emits; the pipeline is valid only when each stage takes what the one before it emits. Items carry their
 * position in the stream (`index`) and a `name` (the file it came from), so results can be matched to inputs.
 */
import type { Frame } from './frames.ts';
import type { RgbaImage } from './image/image.ts';
import type { Tensor } from './tensor.ts';

/**
 * The kinds of value a stage can take or emit. `none` is the input of a source (a stage that needs no input,
 * like `generate`); `frame` is any wire frame (what whole runs such as generate and train emit).
 */
export const streamKinds = ['none', 'image-file', 'image', 'latent', 'frame'] as const;
/** One of `streamKinds`. */
export type StreamKind = (typeof streamKinds)[number];

/** An encoded image as it arrives: PNG, JPEG or WebP bytes, with the file name and an optional caption. */
export interface ImageFileItem {
  readonly index: number;
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly caption?: string;
}

/** A decoded RGBA8 image. */
export interface ImageItem {
  readonly index: number;
  readonly name: string;
  readonly image: RgbaImage;
}

/**
 * A latent z = s·E(x) (already multiplied by the VAE scaling factor s), float32 [1, C, h, w]. `timestep` is the
 * noise level it sits at (0 = clean). A latent noised for denoising also carries the timesteps still to run,
 * the schedule's length and the seed its noise came from.
 */
export interface LatentItem {
  readonly index: number;
  readonly name: string;
  readonly latents: Tensor<'float32'>;
  readonly timestep: number;
  readonly remaining?: readonly number[];
  readonly steps?: number;
  readonly seed?: number;
}

/** The value type of each kind. */
export interface ItemOf {
  none: never;
  'image-file': ImageFileItem;
  image: ImageItem;
  latent: LatentItem;
  frame: Frame;
}
