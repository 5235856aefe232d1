import { map, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import { centerCrop, flipHorizontal, randomCrop, rgbaToTensor, type RgbaImage } from '../common/image/image.ts';
import { resizeShorter, type ResampleFilter } from '../common/image/resample.ts';
import type { Rng } from '../common/numerics/rng.ts';
import type { Tensor } from '../common/tensor.ts';

/** How a training image becomes a square model input. */
export interface PrepareImageOptions {
  /** Side of the square output, R (512 for SD1.x). */
  readonly resolution: number;
  /** 'center' takes the middle square; 'random' a uniformly placed one (draws from `rng`). */
  readonly crop: 'center' | 'random';
  /** Chance of a left ↔ right mirror (0.5 in the textual-inversion recipes). */
  readonly flipProbability: number;
  /** Draws crop offsets and flips; one `uniform()` per image for the flip, then `int()`s for a random crop. */
  readonly rng: Pick<Rng, 'int' | 'uniform'>;
  /** Resize kernel; bicubic by default, as the textual-inversion training scripts use. */
  readonly filter?: ResampleFilter;
}

/**
 * One image → float32 [1, 3, R, R] in [−1, 1]: resize so the shorter side is R (keeping the aspect ratio),
 * crop an R×R square, mirror with probability `flipProbability`. Images smaller than R are scaled up.
 *
 * @example
 * const pixels = prepareImagePixels(img, { resolution: 512, crop: 'center', flipProbability: 0.5, rng: createRng(1) });
 */
export const prepareImagePixels = (rgba: RgbaImage, o: PrepareImageOptions): Tensor<'float32'> => {
  if (!Number.isInteger(o.resolution) || o.resolution < 1 || !(o.flipProbability >= 0 && o.flipProbability <= 1)) {
    throw new PipelineError(
      'bad_request',
      `prepareImage needs a positive integer resolution and a flip probability in [0, 1], got ${o.resolution} and ${o.flipProbability}`,
    );
  }
  const r = o.resolution;
  // Draw the flip first so a stream of images uses the rng the same way whichever crop is chosen.
  const flip = o.rng.uniform() < o.flipProbability;
  const resized = resizeShorter(rgba, r, o.filter ?? 'bicubic');
  const square = o.crop === 'random' ? randomCrop(resized, r, r, o.rng) : centerCrop(resized, r, r);
  return rgbaToTensor(flip ? flipHorizontal(square) : square);
};

/**
 * The stage: `{ name, rgba }` → `{ name, pixels }` via `prepareImagePixels`, drawing from `rng` in stream order.
 *
 * @example
 * images$.pipe(prepareImage({ resolution: 512, crop: 'random', flipProbability: 0.5, rng: createRng(7).fork('augment')
 * }));
 */
export const prepareImage = (
  o: PrepareImageOptions,
): OperatorFunction<{ name: string; rgba: RgbaImage }, { name: string; pixels: Tensor<'float32'> }> =>
  map(({ name, rgba }) => ({ name, pixels: prepareImagePixels(rgba, o) }));
