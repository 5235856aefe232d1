/**
 * The LoRA half of a pivotal-tuning step (Roich et al. 2021's "pivotal tuning", as diffusers' advanced DreamBooth
 * script and cloneofsimo's lora_pti pair textual inversion with a UNet LoRA): the step graph returns ∂loss/∂A and
 * ∂loss/∂B beside ∂loss/∂vectors; here they are gathered, clipped, and given to the LoRA's own AdamW at its own lr.
 *
 * Which part of the run the LoRA trains in: the **last** `fraction` of the steps. The vectors train throughout.
 * The first part is plain textual inversion: the word is found first (the "pivot"), and the adapter then tunes the
 * UNet around that word. An adapter trained from step 0 starts learning the concept before the word has moved off
 * its init, and what it absorbs the word never has to carry — the word ends weaker and the concept lives in the
 * UNet. (diffusers' script instead stops the embeddings after `--train_text_encoder_ti_frac` and trains the LoRA
 * all along; with a word of one vector and a rank-4 adapter the order here keeps the word as the main carrier.)
 */
import { adamwStep, type AdamWState } from '../../common/train/adamw.ts';
import { learningRate } from '../../common/train/lr-schedule.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import { norm } from '../../common/train/train-state.ts';
import type { Tensor } from '../../common/tensor.ts';
import type { LoraShape } from './add-lora.ts';
import { loraFeeds, loraInputNames, type LoraLayerSpec } from './lora-params.ts';

/** Prefix the composed step graph gives every UNet name (train-graph.ts). */
const prefix = 'unet/';

/** What a pivotal run fixes at set-up. */
export interface PivotalContext {
  shape: LoraShape;
  layers: LoraLayerSpec[];
  fraction: number;
  lr: number;
  /** The first step (0-based) at which the LoRA updates: steps − round(fraction·steps). */
  start: number;
}

/** The LoRA's part of the training state: its flat weights and its own AdamW moments. */
export interface LoraState {
  readonly params: Float32Array;
  readonly optimizer: AdamWState;
}

/** The step from which the LoRA trains: the last `fraction` of `steps`, at least one step. */
export const pivotalStart = (steps: number, fraction: number) =>
  Math.min(steps - 1, Math.max(0, steps - Math.round(fraction * steps)));

/** Feeds of the LoRA inputs for this state. */
export const pivotalFeeds = (p: PivotalContext, s: LoraState): Record<string, Tensor> =>
  loraFeeds({ shape: p.shape, layers: p.layers, params: s.params }, prefix);

/** Adds `weight` × this run's ∂loss/∂(A, B) (flat, in layer order) into `into`. */
export const addLoraGrad = (p: PivotalContext, out: Record<string, Tensor>, into: Float32Array, weight: number) => {
  let at = 0;
  for (const name of loraInputNames(p.layers, prefix)) {
    const g = out[`${name}_grad`].data as Float32Array;
    for (let i = 0; i < g.length; i++) into[at + i] += g[i] * weight;
    at += g.length;
  }
};

/**
 * The LoRA after step `step` (0-based): unchanged before `p.start`; else one AdamW update at the LoRA's lr (the
 * run's schedule shape), its gradient clipped to `clipGradNorm` on its own. Returns the new state and the
 * gradient's norm (before clipping).
 */
export const loraUpdate = (
  p: PivotalContext,
  s: LoraState,
  grad: Float32Array,
  step: number,
  r: TrainRequest,
): { state: LoraState; gradNorm: number; lr: number } => {
  if (step < p.start) return { state: s, gradNorm: 0, lr: 0 };
  const gradNorm = norm(grad);
  if (r.clipGradNorm > 0 && gradNorm > r.clipGradNorm)
    for (let i = 0; i < grad.length; i++) grad[i] *= r.clipGradNorm / gradNorm;
  const lr = learningRate(r.schedule, p.lr, step, r.steps, r.warmup);
  const params = Float32Array.from(s.params);
  const optimizer = adamwStep(params, grad, s.optimizer, lr, {
    beta1: r.beta1,
    beta2: r.beta2,
    eps: r.eps,
    weightDecay: r.weightDecay,
  });
  return { state: { params, optimizer }, gradNorm, lr };
};
