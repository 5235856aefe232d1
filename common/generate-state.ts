/**
 * The values that flow between generation stages. Each stage adds what it computes to what it received, so a
 * stage's input type says exactly what it needs and any stage with the same types can take its place.
 */
import type { GenerateRequest } from './requests.ts';
import type { Tensor } from './tensor.ts';

/** A generation about to start: the request (defaults filled) and the pixel size chosen for it. */
export interface GenerateJob {
  readonly runId: string;
  readonly request: GenerateRequest;
  readonly width: number;
  readonly height: number;
  readonly startedAt: number;
}

/** After tokenisation: token ids of the prompt and of the negative (unconditional) prompt. */
export interface Tokenized extends GenerateJob {
  readonly condIds: number[];
  readonly uncondIds: number[];
}

/**
 * SDXL's added conditioning, the UNet's `text_embeds` and `time_ids` inputs: the pooled prompt and negative prompt
 * [1, P] and the micro-conditioning [1, 6] = original size (h, w), crop top-left (top, left), target size (h, w).
 */
export interface AddedConditioning {
  readonly pooled: Tensor<'float32'>;
  readonly uncondPooled: Tensor<'float32'>;
  readonly timeIds: Tensor<'float32'>;
}

/** SDXL: the same prompts tokenised again by `tokenizer_2` (which pads differently), for `text_encoder_2`. */
export interface TokenizedXl extends Tokenized {
  readonly condIds2: number[];
  readonly uncondIds2: number[];
}

/** After the text encoder: hidden states [1, 77, D] for both prompts (and, for SDXL, the added conditioning). */
export interface Conditioned extends GenerateJob {
  readonly cond: Tensor<'float32'>;
  readonly uncond: Tensor<'float32'>;
  readonly added?: AddedConditioning;
}

/** A point on the denoising path: x_t after `step` of `of` steps (step 0 = the initial noise). */
export interface Denoising extends Conditioned {
  readonly step: number;
  readonly of: number;
  /** Timesteps still to run, first is next. */
  readonly remaining: readonly number[];
  /** The timestep the last update came from (the first timestep at step 0). */
  readonly timestep: number;
  readonly latents: Tensor<'float32'>;
  /** Predicted clean latent x̂₀ from the last update (absent at step 0). */
  readonly x0?: Tensor<'float32'>;
}

/** A model prediction for the next update (ε, v or x₀ per the scheduler), guidance already applied. */
export interface Predicted extends Denoising {
  readonly prediction: Tensor<'float32'>;
}

/** An RGBA8 picture. */
export interface Rgba {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** The decoded result of a generation. */
export interface Decoded extends Denoising {
  readonly images: Rgba[];
}
