/**
 * Dynamic loss scaling for float16 training steps, as torch's `GradScaler` does it (Micikevicius et al. 2018,
 * "Mixed Precision Training"): the loss is multiplied by a scale S before differentiation so that small gradients
 * stay above half precision's smallest normal (6.1e-5) on their way back through the float16 graph; the step
 * divides the gradient by S before the optimizer sees it.
 *
 * - a gradient with a NaN or ±inf (the scaled backward overflowed half's 65504): the update is skipped, S halves
 *   (backoff 0.5) and the count of good steps restarts;
 * - `growthInterval` good steps in a row (2000, GradScaler's default): S doubles (growth 2), so a scale that was
 *   lowered once climbs back when it can.
 *
 * S starts at 2¹⁶ (GradScaler's default). The state is two numbers, saved with the training state, so a resumed
 * run scales exactly as an uninterrupted one.
 */

export interface LossScaleState {
  readonly scale: number;
  /** Finite steps since the scale last changed. */
  readonly goodSteps: number;
}

export interface LossScaleSettings {
  readonly initScale: number;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
}

export const defaultLossScale: LossScaleSettings = {
  initScale: 2 ** 16,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
};

export const initialLossScale = (s: LossScaleSettings = defaultLossScale): LossScaleState => ({
  scale: s.initScale,
  goodSteps: 0,
});

/** Whether every value is finite (the overflow check of a scaled gradient). */
export const allFinite = (g: ArrayLike<number>): boolean => {
  for (let i = 0; i < g.length; i++) if (!Number.isFinite(g[i])) return false;
  return true;
};

export interface Unscaled {
  /** The gradient divided by the scale, or undefined when it overflowed (skip this update). */
  readonly grad?: Float32Array;
  /** The scaler's state for the next step. */
  readonly next: LossScaleState;
}

/**
 * One step of the scaler: the scaled gradient in, the true gradient (or a skip) and the next state out.
 * @example
 * unscale(Float32Array.of(8, -4), { scale: 4, goodSteps: 0 }) // { grad: [2, -1], next: { scale: 4, goodSteps: 1 } }
 */
export const unscale = (
  scaled: ArrayLike<number>,
  state: LossScaleState,
  s: LossScaleSettings = defaultLossScale,
): Unscaled => {
  if (!allFinite(scaled)) return { next: { scale: state.scale * s.backoffFactor, goodSteps: 0 } };
  const grad = Float32Array.from(scaled, (v) => v / state.scale);
  const good = state.goodSteps + 1;
  const next =
    good >= s.growthInterval
      ? { scale: state.scale * s.growthFactor, goodSteps: 0 }
      : { scale: state.scale, goodSteps: good };
  return { grad, next };
};

/** A saved scaler state, checked (a hostile or damaged file must not set a zero, negative or NaN scale). */
export const parseLossScale = (v: unknown): LossScaleState | undefined => {
  if (!v || typeof v !== 'object') return undefined;
  const { scale, goodSteps } = v as Record<string, unknown>;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) return undefined;
  if (typeof goodSteps !== 'number' || !Number.isInteger(goodSteps) || goodSteps < 0) return undefined;
  return { scale, goodSteps };
};
