/**
 * Early stopping on the deterministic validation loss (weights/training/validation-loss.ts: fixed images, noise
 * and timesteps, so it moves only with the vectors — informative enough to stop on, as DVAR argues). After each
 * validation round the best loss (and, when stopping is on, the best step's vectors and LoRA) is kept; when `patience`
 * rounds in a row have not beaten it, the state is marked stopped, the loop ends, and the best step's vectors are
 * the result.
 */
import type { TrainState } from './train-state.ts';

export interface EarlyStopOptions {
  /** Rounds without a better loss before stopping; 0 = never stop. */
  patience: number;
  /** Steps between validation rounds. */
  every: number;
  /** The run's last step: a run that reached it ends normally. */
  steps: number;
}

/** The state after a validation round that measured `loss` at `s.step`. */
export const afterValidation = (s: TrainState, loss: number, o: EarlyStopOptions): TrainState => {
  const improved = !s.best || loss < s.best.loss;
  const best = improved ? { step: s.step, loss } : s.best!;
  const next: TrainState = {
    ...s,
    best,
    ...(improved && o.patience > 0 ? { bestVectors: s.vectors, ...(s.lora ? { bestLora: s.lora.params } : {}) } : {}),
  };
  // Rounds since the best one; validation steps are multiples of `every` (the last step aside, which ends anyway).
  const rounds = Math.round((s.step - best.step) / Math.max(1, o.every));
  return o.patience > 0 && rounds >= o.patience && s.step < o.steps
    ? { ...next, earlyStop: { step: s.step, patience: o.patience } }
    : next;
};
