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

/**
 * What an SDXL folder says about its two text encoders and the UNet's added conditioning, read from its configs
 * and checked against its graphs (weights/sdxl-info.ts); never real SDXL's numbers assumed.
 */
export interface SdxlInfo {
  /** `hidden_size` of text_encoder and text_encoder_2: the UNet's context is both, concatenated. */
  readonly textWidths: readonly [number, number];
  /** `num_hidden_layers` of each. */
  readonly textLayers: readonly [number, number];
  /** The output holding each encoder's penultimate hidden state (`hidden_states.{N−1}`), the context SDXL uses. */
  readonly contextOutputs: readonly [string, string];
  /** text_encoder_2's `projection_dim`: the width of the pooled prompt (`text_embeds`). */
  readonly pooledWidth: number;
  /** text_encoder_2's output holding the pooled, projected prompt. */
  readonly pooledOutput: string;
  /** The UNet's `addition_time_embed_dim` (each of the six time ids is embedded this wide). */
  readonly timeEmbedDim: number;
  /** model_index.json's `force_zeros_for_empty_prompt`: an empty negative prompt is all zeros, not encoded "". */
  readonly forceZerosForEmptyPrompt: boolean;
  /** transformers' pooling rule for text_encoder_2's `eos_token_id` (2: argmax of the ids; else its first EOS). */
  readonly pooling: 'argmax' | 'first-eos';
}

export interface ModelInfo {
  family: ModelFamily;
  resolution: number;
  latentChannels: number;
  vaeScale: number;
  scalingFactor: number;
  hiddenSize: number;
  /** Attention heads at the UNet's first level with attention (for memory estimates). */
  attentionHeads: number;
  /** That level's index (0 for SD1/SD2; 1 for SDXL, whose first level has no attention); absent = 0. */
  attentionLevel?: number;
  previewFactors?: number[][];
  previewBias?: number[];
  /** Present for SDXL folders (two text encoders, a UNet with `text_embeds` and `time_ids`). */
  sdxl?: SdxlInfo;
}

/** Guesses the family from the text width: 768 → SD1.x, 1024 → SD2.x. */
export const familyFromHidden = (hidden: number): ModelFamily =>
  hidden === 768 ? 'sd1' : hidden === 1024 ? 'sd2' : 'unknown';
