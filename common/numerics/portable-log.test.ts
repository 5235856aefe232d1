import { describe, expect, it } from 'bun:test';
import { portableLog } from './portable-log.ts';

describe('portableLog', () => {
  it('gives known logarithms', () => {
    expect(portableLog(1)).toBe(0);
    expect(portableLog(Math.E)).toBeCloseTo(1, 15);
    expect(portableLog(2)).toBeCloseTo(Math.LN2, 15);
    expect(portableLog(0.5)).toBeCloseTo(-Math.LN2, 15);
    expect(portableLog(10)).toBeCloseTo(Math.LN10, 14);
    expect(portableLog(1e-300)).toBeCloseTo(-690.7755278982137, 11);
  });

  it('stays within a few ulp of the engine log over (0, 1)', () => {
    for (let k = 1; k < 2000; k++) {
      const x = (k / 2000) ** 3;
      expect(Math.abs(portableLog(x) - Math.log(x))).toBeLessThanOrEqual(
        4 * Number.EPSILON * Math.max(1, Math.abs(Math.log(x))),
      );
    }
  });

  it('handles zero, negatives, subnormals and infinity', () => {
    expect(portableLog(0)).toBe(-Infinity);
    expect(portableLog(-1)).toBeNaN();
    expect(portableLog(Infinity)).toBe(Infinity);
    expect(portableLog(5e-324)).toBeCloseTo(-744.4400719213812, 10);
  });
});
