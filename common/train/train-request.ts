/**
 * What a training run is asked to do, with every default written down (the reference implementations' where
 * they agree: AdamW β 0.9/0.999, ε 1e-8, 1 vector, flip p 0.5, 100 repeats). A bad request names the field.
 */
import { z } from 'zod';
import { limits } from '../limits.ts';
import { parseRequest } from '../requests.ts';

export const TrainRequest = z.strictObject({
  model: z.string().min(1).default('tiny'),
  /** A folder of images (PNG, JPEG, WebP), optionally with `name.txt` captions beside them. */
  images: z.string().min(1),
  /** The placeholder, e.g. `<cat-toy>`; must not exist in the tokenizer. */
  token: z
    .string()
    .min(1)
    // As an embedding file's metadata token is read back (embedding-file.ts): a token written there must be usable.
    .max(limits.embeddingTokenChars)
    .refine((t) => !/[\s\p{Cc}\p{Cs}]/u.test(t), 'must not contain whitespace or control characters'),
  /** Word or phrase the vectors start from; a phrase spreads over the vectors. */
  init: z.string().min(1),
  vectors: z.int().min(1).max(75).default(1),
  steps: z.int().min(1).max(1_000_000).default(3000),
  lr: z.number().positive().default(5e-3),
  scaleLr: z.boolean().default(false),
  schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
  warmup: z.int().min(0).default(0),
  batch: z.int().min(1).max(64).default(1),
  accumulate: z.int().min(1).max(64).default(1),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  weightDecay: z.number().min(0).default(0),
  eps: z.number().positive().default(1e-8),
  /** Clip the gradient's L2 norm to this (0 = off). */
  clipGradNorm: z.number().min(0).default(0),
  /** Keep each learned vector's norm at most this multiple of its initializer's (0 = off; see norm-cap.ts). */
  maxNormRatio: z.number().min(0).default(0),
  /** min-SNR-γ loss weighting (0 = off). */
  minSnrGamma: z.number().min(0).default(0),
  resolution: z.int().min(8).multipleOf(8).nullable().default(null),
  property: z.enum(['object', 'style']).default('object'),
  /** Use `.txt` captions beside the images (with `{}` or the token prepended) instead of templates. */
  captions: z.boolean().default(false),
  flipProbability: z.number().min(0).max(1).default(0.5),
  repeats: z.int().min(1).default(100),
  seed: z.int().min(0).default(0),
  validateEvery: z.int().min(0).default(100),
  validationPrompt: z.string().nullable().default(null),
  validationSteps: z.int().min(1).max(1000).default(20),
  validationImages: z.int().min(0).max(16).default(2),
  previewEvery: z.int().min(0).default(10),
  saveEvery: z.int().min(0).default(500),
  layout: z.enum(['diffusers', 'kohya', 'a1111']).default('diffusers'),
  out: z.string().min(1).default('out/embedding'),
  resume: z.boolean().default(false),
  /** Resume even though the seed, lr or schedule differ from what the checkpoint recorded. */
  resumeWithChanges: z.boolean().default(false),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  /**
   * Memory against speed for the step (weights/training/memory-mode.ts): `lean` keeps the peak down (no pre-packed
   * weight copies, initialisers outside the arena, big attention split over heads with its probabilities recomputed),
   * `fast` takes onnxruntime's defaults and keeps the probabilities; `auto` is lean for models over 1 GiB of weights.
   */
  memory: z.enum(['auto', 'lean', 'fast']).default('auto'),
  /**
   * The inversion method (the pipeline description's `inversion` slot overrides it): ti, dti, p-plus or pivotal
   * (the vectors and a LoRA on the UNet, `lora` below).
   */
  method: z.enum(['ti', 'dti', 'p-plus', 'pivotal']).default('ti'),
  /**
   * Stop when the deterministic validation loss has not improved for this many validation rounds, keeping the best
   * step's vectors as the result (0 = off; needs validateEvery > 0).
   */
  earlyStop: z.int().min(0).default(0),
  /** pivotal's LoRA: rank, alpha (default = rank), the fraction of the run it trains in, its learning rate. */
  lora: z
    .strictObject({
      rank: z.int().min(1).max(1024).default(4),
      alpha: z.number().positive().optional(),
      fraction: z.number().gt(0).max(1).default(0.5),
      lr: z.number().positive().default(1e-4),
    })
    .prefault({}),
});
export type TrainRequest = z.infer<typeof TrainRequest>;
export type TrainRequestInput = z.input<typeof TrainRequest>;

export const parseTrainRequest = (value: unknown): TrainRequest => parseRequest(TrainRequest, value);
