/**
 * The training pipeline as data: which timestep sampler, loss weighting, optimizer and augmentation run. Request
 * flags fill the defaults; a description (JSON) overrides them, so an experiment swaps a stage without code.
 *
 * @example
 * trainPipelineDescription.parse({ lossWeighting: { use: 'min-snr', gamma: 5 }, optimizer: { use: 'sgd' } })
 */
import { z } from 'zod';

export const trainPipelineDescription = z.strictObject({
  kind: z.literal('train').default('train'),
  /** Timesteps: uniform over [min, max) of the training schedule (the reference implementations use all). */
  timesteps: z
    .strictObject({
      use: z.literal('uniform'),
      min: z.int().min(0).default(0),
      max: z.int().min(1).nullable().default(null),
    })
    .optional(),
  lossWeighting: z
    .discriminatedUnion('use', [
      z.strictObject({ use: z.literal('uniform') }),
      z.strictObject({ use: z.literal('min-snr'), gamma: z.number().positive().default(5) }),
    ])
    .optional(),
  optimizer: z
    .discriminatedUnion('use', [
      z.strictObject({ use: z.literal('adamw') }),
      /** Plain SGD with momentum: the simplest alternative, for comparing optimizers. */
      z.strictObject({ use: z.literal('sgd'), momentum: z.number().min(0).lt(1).default(0.9) }),
    ])
    .optional(),
  augment: z.strictObject({ flipProbability: z.number().min(0).max(1) }).optional(),
  /**
   * What is learned and how (weights/methods/): `ti` the paper's vectors; `dti` their direction only, the norm held
   * at the vocabulary's mean (directional textual inversion); `p-plus` one vector set per cross-attention layer (P+).
   */
  inversion: z
    .discriminatedUnion('use', [
      z.strictObject({ use: z.literal('ti') }),
      z.strictObject({ use: z.literal('dti') }),
      z.strictObject({ use: z.literal('p-plus') }),
    ])
    .optional(),
});
/** The inversion methods the slot offers, by name (the `--method` flag and the request's `method`). */
export type InversionChoice = NonNullable<TrainPipelineDescription['inversion']>;
export type TrainPipelineDescription = z.output<typeof trainPipelineDescription>;
