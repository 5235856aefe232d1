/**
 * The generate pipeline as data: which sampler and which preview run, with their settings. A description is
 * validated by zod, so an experiment swaps a stage by changing JSON, not code.
 *
 * @example
 * generatePipelineDescription.parse({ preview: { use: 'vae', every: 10 } })
 */
import { z } from 'zod';

export const samplerChoice = z.discriminatedUnion('use', [
  z.strictObject({ use: z.literal('ddim') }),
  z.strictObject({ use: z.literal('ddpm-ancestral') }),
]);

export const previewChoice = z.discriminatedUnion('use', [
  /** Linear latent→RGB of x̂₀ every N steps: costs microseconds, one pixel per latent cell. */
  z.strictObject({ use: z.literal('latent-rgb'), every: z.int().min(1).default(1) }),
  /** Full VAE decode of x̂₀ every N steps: exact, costs a decoder run each time. */
  z.strictObject({ use: z.literal('vae'), every: z.int().min(1).default(10) }),
  z.strictObject({ use: z.literal('none') }),
]);

export const generatePipelineDescription = z.strictObject({
  kind: z.literal('generate').default('generate'),
  sampler: samplerChoice.default({ use: 'ddim' }),
  preview: previewChoice.default({ use: 'latent-rgb', every: 1 }),
  /** Send the raw latent tensor of every step (for clients that render it themselves). */
  latentFrames: z.boolean().default(true),
});

export type GeneratePipelineDescription = z.output<typeof generatePipelineDescription>;
export type SamplerChoice = z.output<typeof samplerChoice>;
export type PreviewChoice = z.output<typeof previewChoice>;
