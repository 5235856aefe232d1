/**
 * What a pivotal-tuning run adds to a training run's set-up: the LoRA's starting state, what its checkpoint
 * records about it, and validation images drawn with the current LoRA merged into the UNet.
 */
import { adamwInit } from '../../common/train/adamw.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import { loadedLayers } from '../../weights/lora/lora-file.ts';
import { initLora } from '../../weights/lora/lora-params.ts';
import type { LoraState, PivotalContext } from '../../weights/lora/pivotal-step.ts';
import { withMergedLora } from '../../weights/lora/with-lora.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import type { Session } from '../../weights/session.ts';
import type { LoraIdentity } from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';

/** The LoRA at step 0: A seeded from the run's seed, B = 0, fresh AdamW moments. */
export const initLoraState = (p: PivotalContext, seed: number): LoraState => {
  const { params } = initLora(p.layers, p.shape, seed);
  return { params, optimizer: adamwInit(params.length) };
};

/** What a checkpoint records of the LoRA, so a resume refuses another rank, alpha, fraction, lr or layer set. */
export const pivotalIdentity = (p: PivotalContext): LoraIdentity => ({
  rank: p.shape.rank,
  alpha: p.shape.alpha,
  fraction: p.fraction,
  lr: p.lr,
  layers: p.layers,
});

/**
 * Validation's model: the vectors' model, and in a pivotal run the current LoRA merged into its UNet (one merged
 * UNet session open at a time: the previous one is released when the next is made).
 */
export const pivotalValidationModel = (
  ctx: TrainContext,
  withVectors: (vectors: Float32Array) => Promise<SdModel>,
  open: (unet: Model) => Promise<Session>,
) => {
  let previous: SdModel | undefined;
  return async (vectors: Float32Array, lora?: TrainState['lora']): Promise<SdModel> => {
    const base = await withVectors(vectors);
    if (!ctx.lora || !lora) return base;
    await previous?.release();
    const p = ctx.lora;
    previous = await withMergedLora(
      base,
      () => [{ layers: loadedLayers({ shape: p.shape, layers: p.layers, params: lora.params }), scale: 1 }],
      open,
    );
    return previous;
  };
};
