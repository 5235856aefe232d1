/**
 * SDXL's micro-conditioning (Podell et al. 2023, §2.2): the UNet's `time_ids` input. diffusers'
 * StableDiffusionXLPipeline builds it in `_get_add_time_ids` as `original_size + crops_coords_top_left +
 * target_size`, each pair in (height, width) / (top, left) order; in `__call__`, original_size and target_size
 * default to (height, width) of the image drawn and the crop to (0, 0), and the negative branch reuses the same
 * ids unless told otherwise.
 */
import type { GenerateRequest } from './requests.ts';
import { tensor, type Tensor } from './tensor.ts';

/**
 * The six time ids of a request drawn at `width`×`height`.
 * @example
 * sdxlTimeIds({ originalSize: { width: 1024, height: 768 }, crop: null, targetSize: null }, 512, 512)
 * // [768, 1024, 0, 0, 512, 512]
 */
export const sdxlTimeIds = (r: MicroConditioning, width: number, height: number): number[] => {
  const original = r.originalSize ?? { width, height };
  const crop = r.crop ?? { left: 0, top: 0 };
  const target = r.targetSize ?? { width, height };
  return [original.height, original.width, crop.top, crop.left, target.height, target.width];
};

/** `sdxlTimeIds` as the UNet's [1, 6] float32 `time_ids` input. */
export const sdxlTimeIdsTensor = (r: MicroConditioning, width: number, height: number): Tensor<'float32'> =>
  tensor('float32', [1, 6], Float32Array.from(sdxlTimeIds(r, width, height)));

type MicroConditioning = Pick<GenerateRequest, 'originalSize' | 'crop' | 'targetSize'>;

/**
 * The micro-conditioning fields a request sets (only SDXL models read them), named as a client writes them.
 * @example microConditioningFields({ originalSize: null, crop: { left: 0, top: 0 }, targetSize: null }) // ['crop']
 */
export const microConditioningFields = (r: MicroConditioning): Array<keyof MicroConditioning> =>
  (['originalSize', 'crop', 'targetSize'] as const).filter((k) => r[k] !== null);
