/**
 * What the pipeline needs to know about a model beyond its sessions: latent size and channels, the VAE scaling
 * factor, the text width, the family (for preview factors). Read from the folder's configs; where a real
 * export has none, from the sessions; `pseudoword.json` (written by our own builders) overrides both.
 */
import { z } from 'zod';

export const modelFamily = z.enum(['sd1', 'sd2', 'sdxl', 'tiny', 'unknown']);
export type ModelFamily = z.infer<typeof modelFamily>;

/** `pseudoword.json`, the project's own description of a model folder it built. */
export const pseudowordModelJson = z.looseObject({
  family: modelFamily.default('unknown'),
  /** Image size in pixels the model was built/trained for. */
  resolution: z.number().int().positive().optional(),
  latentChannels: z.number().int().positive().optional(),
  /** Pixels per latent cell (8 for SD). */
  vaeScale: z.number().int().positive().optional(),
  scalingFactor: z.number().positive().optional(),
  /** latent→RGB preview factors: one row per latent channel, columns R, G, B; optional bias per colour. */
  previewFactors: z.array(z.array(z.number()).length(3)).optional(),
  previewBias: z.array(z.number()).length(3).optional(),
});

export interface ModelInfo {
  family: ModelFamily;
  resolution: number;
  latentChannels: number;
  vaeScale: number;
  scalingFactor: number;
  hiddenSize: number;
  /** Attention heads at the UNet's first level (for memory estimates). */
  attentionHeads: number;
  previewFactors?: number[][];
  previewBias?: number[];
}

/** Guesses the family from the text width: 768 → SD1.x, 1024 → SD2.x. */
export const familyFromHidden = (hidden: number): ModelFamily =>
  hidden === 768 ? 'sd1' : hidden === 1024 ? 'sd2' : 'unknown';
