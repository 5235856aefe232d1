import { EMPTY, expand, of, pipe, type OperatorFunction } from 'rxjs';
import type { Denoising, Predicted } from '../common/generate-state.ts';

/**
 * The denoising loop as a feedback: each state goes through `predict` then `update`, and the result is fed back
 * until no timesteps remain. Emits the starting state and every state after it, one per step. Because it is
 * `expand` with concurrency 1, unsubscribing stops the loop between two steps, never inside a session run.
 */
export const denoise = (
  predict: OperatorFunction<Denoising, Predicted>,
  update: OperatorFunction<Predicted, Denoising>,
): OperatorFunction<Denoising, Denoising> =>
  expand((s: Denoising) => (s.remaining.length ? of(s).pipe(predict, update) : EMPTY), 1);

/** predict then update, as one step, for callers that want a single operator. */
export const denoiseStep = (
  predict: OperatorFunction<Denoising, Predicted>,
  update: OperatorFunction<Predicted, Denoising>,
) => pipe(predict, update);
