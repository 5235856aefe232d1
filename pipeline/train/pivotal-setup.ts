/**
 * What a pivotal-tuning run adds to a training run's set-up: the LoRA's starting state, what its checkpoint
 * records about it, and validation images drawn with the current LoRA.
 */
import { adamwInit } from '../../common/train/adamw.ts';
import type { Tensor } from '../../common/tensor.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import { addLora } from '../../weights/lora/add-lora.ts';
import { initLora, loraFeeds } from '../../weights/lora/lora-params.ts';
import type { LoraState, PivotalContext } from '../../weights/lora/pivotal-step.ts';
import type { Component, SdModel } from '../../weights/model-folder.ts';
import { decodeModel, type Model } from '../../weights/onnx/proto.ts';
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

/** A session that feeds `extra` on every run and no longer lists those inputs. */
const feedingAlso = (s: Session, extra: Record<string, Tensor>): Session => ({
  inputs: s.inputs.filter((i) => !(i.name in extra)),
  outputs: s.outputs,
  run: (feeds, fetch) => s.run({ ...feeds, ...extra }, fetch),
  release: async () => {}, // the branched UNet is shared by every validation of the run
});

/**
 * Validation's model: the vectors' model, and in a pivotal run a UNet with the LoRA branches (the training graph's
 * surgery, opened once per run on first use) fed the current LoRA weights — not a merge per validation, which
 * would write a new UNet graph into the cache each time.
 */
export const pivotalValidationModel = (
  ctx: TrainContext,
  withVectors: (vectors: Float32Array) => Promise<SdModel>,
  open: (unet: Model) => Promise<Session>,
) => {
  let branched: Promise<Session> | undefined;
  return async (vectors: Float32Array, lora?: TrainState['lora']): Promise<SdModel> => {
    const base = await withVectors(vectors);
    const p = ctx.lora;
    if (!p || !lora) return base;
    branched ??= base.files
      .readBytes('unet/model.onnx')
      .then((bytes) => open(addLora(decodeModel(bytes!), p.shape).model));
    const unet = feedingAlso(await branched, loraFeeds({ shape: p.shape, layers: p.layers, params: lora.params }));
    return { ...base, session: (c: Component) => (c === 'unet' ? Promise.resolve(unet) : base.session(c)) };
  };
};
