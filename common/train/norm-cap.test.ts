import { describe, expect, test } from 'bun:test';
import { capNorms } from './norm-cap.ts';

const length = (a: Float32Array, off: number, dim: number) => Math.hypot(...a.subarray(off, off + dim));

describe('the norm cap', () => {
  test('shrinks only the vectors longer than ratio × their initial norm, onto that norm, keeping their direction', () => {
    const init = Float32Array.of(3, 4, 0, 0, 1, 0); // norms 5 and 1, dim 3
    const v = Float32Array.of(6, 8, 0, 0, 1.2, 0); // norms 10 (over 1.5 × 5) and 1.2 (under 1.5 × 1)
    expect(capNorms(v, init, 3, 1.5)).toBe(1);
    expect(length(v, 0, 3)).toBeCloseTo(7.5, 5);
    expect(v[0] / v[1]).toBeCloseTo(0.75, 6);
    expect([...v.subarray(3)]).toEqual([0, 1.2000000476837158, 0]);
  });

  test('leaves everything alone at ratio 0', () => {
    const v = Float32Array.of(100, 0);
    expect(capNorms(v, Float32Array.of(1, 0), 2, 0)).toBe(0);
    expect(v[0]).toBe(100);
  });
});
