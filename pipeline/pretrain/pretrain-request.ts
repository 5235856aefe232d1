/**
 * A pretraining request as data (CLI flags and `POST /v1/pretrain` bodies parse into it) and the recipe it
 * asks for: the default recipe with the request's seed, every step count scaled, then any explicit counts.
 */
import { z } from 'zod';
import { parseRequest } from '../../common/requests.ts';
import { defaultRecipe, scaleRecipe, type PhaseRecipe, type PretrainRecipe } from './pretrain-config.ts';

const steps = z.int().min(1).max(10_000_000);

/** Prompts drawn with the trained model at the end, unless a request names others. */
export const defaultSamplePrompts = [
  'a red circle',
  'a blue square on the left',
  'a large yellow star on a plain black background',
  'a small green triangle at the top',
] as const;

export const PretrainRequest = z.strictObject({
  seed: z
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(defaultRecipe.seed),
  /** Multiplies every step count (0.01 for a smoke run). */
  scale: z.number().positive().max(100).default(1),
  vaeSteps: steps.optional(),
  decoderSteps: steps.optional(),
  diffusionSteps: steps.optional(),
  /** World scenes whose latents are cached for the diffusion phase. */
  dataset: z.int().min(1).max(1_000_000).optional(),
  checkpointEvery: z.int().min(1).default(100),
  samples: z
    .array(z.string().max(500))
    .max(32)
    .default([...defaultSamplePrompts]),
  /** Where the trained folder goes (the server resolves it inside its output root). */
  out: z.string().min(1).optional(),
  /** Continue from the checkpoints the same run left in its work folder. */
  resume: z.boolean().default(false),
});
export type PretrainRequest = z.infer<typeof PretrainRequest>;

const withSteps = <P extends PhaseRecipe>(p: P, n: number | undefined): P =>
  n === undefined ? p : { ...p, steps: n, warmup: Math.min(p.warmup, n >> 2) };

/**
 * The recipe a request asks for.
 *
 * @example
 * recipeOf(PretrainRequest.parse({ scale: 0.01 })).vae.steps; // 30
 */
export const recipeOf = (r: PretrainRequest): PretrainRecipe => {
  const scaled = scaleRecipe({ ...defaultRecipe, seed: r.seed }, r.scale);
  return {
    ...scaled,
    vae: withSteps(scaled.vae, r.vaeSteps),
    decoder: withSteps(scaled.decoder, r.decoderSteps),
    diffusion: withSteps(scaled.diffusion, r.diffusionSteps),
    datasetSize: r.dataset ?? scaled.datasetSize,
  };
};

/**
 * Whether checkpoints of `was` can continue as `now`: the same seed, data and batch shapes (step counts may
 * change; that changes the learning-rate schedule from there on).
 */
export const resumable = (was: PretrainRecipe, now: PretrainRecipe): boolean => {
  const shape = (r: PretrainRecipe) =>
    JSON.stringify([
      r.seed,
      r.datasetSize,
      r.vae.batch,
      r.vae.beta,
      r.vae.objectWeight,
      r.decoder.batch,
      r.diffusion.batch,
      r.diffusion.captionDropout,
    ]);
  return shape(was) === shape(now);
};

/**
 * Validates a pretraining request; a 'bad_request' PipelineError names the first offending field.
 *
 * @example
 * parsePretrainRequest({ seed: 1, scale: 0.01 }).samples.length; // 4
 */
export const parsePretrainRequest = (value: unknown): PretrainRequest => parseRequest(PretrainRequest, value);
