/**
 * The working memory of one request, estimated before it runs, so a server can refuse what it cannot hold instead
 * of being killed half-way. At the sizes that hurt, attention dominates: a self-attention over n latent cells
 * holds n×n scores per head and batch item, twice (the scores and their softmax); the UNet's first level has
 * n = (width/vaeScale)·(height/vaeScale) and the lower levels add n/4, n/16, … (≈ 7 % more); the VAE decoder's
 * mid-block attends over the same n cells once more (one head, one image). Weights are not counted: an opened
 * model is shared by every request.
 *
 * Checked on `tiny` (2 heads, ×4 VAE, guided, so batch 2): `pseudoword generate --steps 1` peaked 0.04 / 0.23 /
 * 0.70 / 3.54 GB above its 64 px run (0.13 GB) at 128 / 192 / 256 / 384 px (`/usr/bin/time -f %M`); this estimate
 * gives 0.04 / 0.22 / 0.71 / 3.58 GB.
 */
import { PipelineError } from '../common/errors.ts';
import type { ModelInfo } from './model-info.ts';

/** Largest image side a model is asked for, as a multiple of the size it was made for. */
export const maxSideFactor = 4;

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/**
 * Bytes of working memory for generating `batch` images of width×height (doubled when classifier-free guidance
 * runs the UNet on the unconditional prompt too).
 * @example generationBytes(tinyInfo, 256, 256, 1, true) // ≈ 0.72e9
 */
export const generationBytes = (info: ModelInfo, width: number, height: number, batch: number, guided: boolean) => {
  const cells = Math.ceil(width / info.vaeScale) * Math.ceil(height / info.vaeScale);
  const scores = cells * cells * 4; // float32 n×n
  // The UNet's largest attention is at its first level with attention (SDXL's first level has none): ¼ the cells
  // per level below, so 1/16 the scores.
  const unetScores = scores / 16 ** (info.attentionLevel ?? 0);
  const unet = 2 * info.attentionHeads * batch * (guided ? 2 : 1) * unetScores * (1 + 1 / 16 + 1 / 256);
  const vae = 2 * batch * scores;
  return unet + vae;
};

/**
 * A training step keeps the forward's activations for the backward and forms their gradients: about three times a
 * forward at the training resolution, plus the validation images it generates.
 */
export const trainingBytes = (info: ModelInfo, resolution: number, batch: number) =>
  3 * generationBytes(info, resolution, resolution, batch, false) +
  generationBytes(info, resolution, resolution, 1, true);

/**
 * Refuses, before it starts, a request larger than the model is meant for or than `maxBytes` of working memory.
 * @throws PipelineError 'bad_request' naming `width`/`height` over the model's maximum, 'too_large' over `maxBytes`.
 */
export const admitSize = (info: ModelInfo, width: number, height: number, bytes: number, maxBytes: number) => {
  const maxSide = info.resolution * maxSideFactor;
  for (const [field, v] of [
    ['width', width],
    ['height', height],
  ] as const)
    if (v > maxSide)
      throw new PipelineError(
        'bad_request',
        `${field}: ${v} is more than this model allows (${maxSide}: ${maxSideFactor}× the ${info.resolution} px it was made for)`,
        { field },
      );
  if (bytes > maxBytes)
    throw new PipelineError(
      'too_large',
      `this request needs about ${gib(bytes)} of working memory at ${width}×${height}; the server allows ${gib(maxBytes)} per request (--max-request-gib)`,
      { limit: maxBytes, estimate: Math.round(bytes) },
    );
};
