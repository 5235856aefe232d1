/**
 * The generate pipeline as data: which sampler and which preview run, with their settings. A description is
 * validated by zod, so an experiment swaps a stage by changing JSON, not code. Without a sampler, the model
 * folder's scheduler class picks one.
 *
 * @example
 * generatePipelineDescription.parse({ preview: { use: 'vae', every: 10 } })
 */
import { z } from 'zod';

/** Karras σs (ρ = 7) instead of the config's spacing; false unless the scheduler config says use_karras_sigmas. */
const karras = z.boolean().optional();

export const samplerChoice = z.discriminatedUnion('use', [
  /** DDIM (Song et al. 2021) with the request's η. */
  z.strictObject({ use: z.literal('ddim') }),
  /** DDIM at η = 1: DDPM-like ancestral noise. */
  z.strictObject({ use: z.literal('ddpm-ancestral') }),
  /** Euler on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn). */
  z.strictObject({ use: z.literal('euler'), karras }),
  /** Euler-ancestral: Euler to σ_down, then η-weighted fresh noise σ_up (SDXL's default). */
  z.strictObject({ use: z.literal('euler-a'), eta: z.number().min(0).max(1).default(1), karras }),
  /** DPM-Solver++(2M) (Lu et al. 2022): second-order multistep on x̂₀, first-order first and last steps. */
  z.strictObject({ use: z.literal('dpm++2m'), karras }),
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
  /** Absent: the model folder's scheduler_config.json `_class_name` picks (common/sampler-names.ts). */
  sampler: samplerChoice.optional(),
  preview: previewChoice.default({ use: 'latent-rgb', every: 1 }),
  /** Send the raw latent tensor of every step (for clients that render it themselves). */
  latentFrames: z.boolean().default(true),
});

export type GeneratePipelineDescription = z.output<typeof generatePipelineDescription>;
export type SamplerChoice = z.output<typeof samplerChoice>;
export type PreviewChoice = z.output<typeof previewChoice>;
