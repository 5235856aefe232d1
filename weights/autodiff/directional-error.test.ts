import { describe, expect, test } from 'bun:test';
import { directionalError } from './directional-error.ts';

/** Differences of f along v = 1 at x with step ε, and the claimed derivative. */
const along = (f: (x: number) => number, x: number, analytic: number, eps = 1e-6) =>
  directionalError({
    base: f(x),
    plus: f(x + eps),
    minus: f(x - eps),
    eps,
    analytic,
    bound: Math.max(Math.abs(analytic), 1),
    noise: 0,
    tol: 1e-5,
  });

describe('the directional error of a gradient check', () => {
  test('is tiny for the right derivative of a smooth function and large for a wrong one', () => {
    expect(along(Math.sin, 0.3, Math.cos(0.3))).toBeLessThan(1e-8);
    expect(along(Math.sin, 0.3, 1.1 * Math.cos(0.3))).toBeGreaterThan(0.05);
  });

  test('accepts any subgradient at a kink and rejects one outside the one-sided differences', () => {
    expect(along(Math.abs, 0, 0)).toBe(0);
    expect(along(Math.abs, 0, 0.5)).toBe(0);
    expect(along(Math.abs, 0, 2)).toBeGreaterThan(0.4);
  });

  test('uses the other side where a step leaves the domain', () => {
    const square = (x: number) => (x < 0 ? Number.NaN : x * x); // defined for x ≥ 0 only
    expect(along(square, 0, 0)).toBeLessThan(1e-5);
    expect(along(square, 0, 1)).toBeGreaterThan(0.5);
  });

  test('reads NaN as a failure', () => {
    expect(along(() => Number.NaN, 1, 1)).toBe(Infinity);
  });
});
