/**
 * What a training run sets up once and every training stage reads: the model, the one-graph training step
 * session, the tokenizer with the placeholder tokens, the initial vectors, the images encoded to latent
 * distributions (cached: the VAE encoder runs once per image and flip), and the run's settings resolved from
 * request + pipeline description. Built by `pipeline/train/train-setup.ts`.
 */
import type { Ddim } from '../../common/numerics/ddim.ts';
import type { TrainPipelineDescription } from '../../common/train/train-pipeline.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import type { SdModel } from '../model-folder.ts';
import type { Session } from '../session.ts';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { InversionHooks } from '../methods/inversion-method.ts';

/** One training image after the VAE: the latent distribution N(mean, std²) of the image and of its mirror. */
export interface CachedLatent {
  readonly name: string;
  readonly caption?: string;
  readonly mean: [Float32Array, Float32Array];
  readonly std: [Float32Array, Float32Array];
  /**
   * SDXL's micro-conditioning of the image and of its mirror: original size (before resizing and cropping), crop
   * top-left (of the crop actually taken), target size (the training resolution), each (height, width).
   */
  readonly timeIds?: [number[], number[]];
}

export interface TrainContext {
  readonly runId: string;
  readonly request: TrainRequest;
  readonly model: SdModel;
  readonly step: Session;
  readonly tokenizer: ClipTokenizer;
  /** The placeholder tokens (`tok`, `tok_1`, …) and their ids (tableRows, tableRows+1, …). */
  readonly tokens: string[];
  readonly tokenIds: number[];
  readonly dim: number;
  readonly initVectors: Float32Array;
  readonly latents: CachedLatent[];
  readonly latentDims: [number, number, number];
  readonly ddim: Ddim;
  readonly templates: readonly string[];
  readonly settings: Required<Omit<TrainPipelineDescription, 'kind'>>;
  readonly lr: number;
  /**
   * SDXL: text_encoder_2's tokenizer (with the placeholder tokens) and vector width. The state's vectors are then
   * text_encoder's [n, dim] followed by text_encoder_2's [n, dim2] (see xl-vectors.ts).
   */
  readonly xl?: { readonly tokenizer2: ClipTokenizer; readonly dim2: number };
  /** The inversion method's hooks (weights/methods/); absent: plain textual inversion. */
  readonly inversion?: InversionHooks;
}
