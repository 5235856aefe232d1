/**
 * How far an analytic directional derivative ⟨g, v⟩ is from the forward's differences along v, relative to
 * ‖g‖·‖v‖ (the largest it could be), for the node-test gradient checks (node-test-check.ts).
 */

/** The losses at x, x + εv and x − εv, the step, ⟨g, v⟩ and ‖g‖·‖v‖, the rounding noise and the tolerance. */
export interface Differences {
  base: number;
  plus: number;
  minus: number;
  eps: number;
  analytic: number;
  bound: number;
  /** Absolute noise of a difference from rounding the forward's outputs, subtracted before comparing. */
  noise: number;
  tol: number;
}

/**
 * The relative error: against the central difference; against the other side's difference where a step leaves the
 * op's domain (NaN on one side: Pow at a base of 0); and at a kink (Relu at 0, ties of Max), where the one-sided
 * differences part, the distance of ⟨g, v⟩ outside the interval between them, since any subgradient lies there.
 *
 * @example
 * // |x| at 0 along v = 1 with g = 0: one-sided differences +1 and −1, 0 lies between them
 * directionalError({ base: 0, plus: 1e-6, minus: 1e-6, eps: 1e-6, analytic: 0, bound: 1, noise: 0, tol: 1e-5 }) // 0
 */
export const directionalError = (d: Differences): number => {
  const { base, plus, minus, eps, analytic, bound, noise, tol } = d;
  const [right, left] = [(plus - base) / eps, (base - minus) / eps];
  const numeric = Number.isNaN(minus) ? right : Number.isNaN(plus) ? left : (plus - minus) / (2 * eps);
  let err = Math.max(0, Math.abs(analytic - numeric) - noise) / bound;
  if (err > tol && Math.abs(right - left) > tol * bound)
    err = Math.max(0, Math.min(right, left) - analytic, analytic - Math.max(right, left)) / bound;
  return Number.isNaN(err) ? Infinity : err;
};
