/**
 * Values flowing through the training loop. The loop is a feedback: a `TrainState` goes through a step and
 * comes back as the next one; frames leave on the side. A state is immutable: every step makes new arrays, so a
 * frame or a validation pass can hold one while training goes on.
 */
import type { Frame } from '../frames.ts';
import type { AdamWState } from './adamw.ts';
import type { LossScaleState } from './loss-scale.ts';

export interface TrainState {
  /** Optimizer updates done. */
  readonly step: number;
  /** The learned vectors, row-major [count, dim]. */
  readonly vectors: Float32Array;
  readonly optimizer: AdamWState;
  /** Numbers of the last step (absent before the first). */
  readonly last?: { loss: number; lr: number; gradNorm: number };
  /** Best deterministic validation loss so far. */
  readonly best?: { step: number; loss: number };
  /** The dynamic loss scaler's state (float16 step graphs only). */
  readonly lossScale?: LossScaleState;
  /** The vectors of the best validation step (kept only when early stopping is on). */
  readonly bestVectors?: Float32Array;
  /** Pivotal tuning: the LoRA weights of that best step (kept only when early stopping is on). */
  readonly bestLora?: Float32Array;
  /** Set when early stopping ends the run at this step (common/train/early-stop.ts); never saved. */
  readonly earlyStop?: { step: number; patience: number };
  /** Pivotal tuning: the LoRA's flat weights and its own AdamW state (weights/lora/pivotal-step.ts). */
  readonly lora?: { readonly params: Float32Array; readonly optimizer: AdamWState };
}

/** What the loop emits: the next state (fed back) or a frame (sent out). */
export type TrainEvent =
  | { readonly kind: 'state'; readonly state: TrainState }
  | { readonly kind: 'frame'; readonly frame: Frame };

export const stateEvent = (state: TrainState): TrainEvent => ({ kind: 'state', state });
export const frameEvent = (frame: Frame): TrainEvent => ({ kind: 'frame', frame });

/** L2 norm of a vector. */
export const norm = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};
