import { describe, expect, test } from 'bun:test';
import { defaultLossScale, initialLossScale, parseLossScale, unscale } from './loss-scale.ts';

// Hand-worked: growth interval 3, so doubling is visible in a few steps.
const short = { ...defaultLossScale, growthInterval: 3 };

describe('the dynamic loss scaler', () => {
  test("starts at 2^16 with GradScaler's defaults (growth 2, backoff 0.5, every 2000 good steps)", () => {
    expect(initialLossScale()).toEqual({ scale: 65536, goodSteps: 0 });
    expect(defaultLossScale).toEqual({ initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 });
  });

  test('divides a finite gradient by the scale and counts a good step', () => {
    const u = unscale(Float32Array.of(8, -4, 0.5), { scale: 4, goodSteps: 0 });
    expect(Array.from(u.grad!)).toEqual([2, -1, 0.125]);
    expect(u.next).toEqual({ scale: 4, goodSteps: 1 });
  });

  test('skips the update and halves the scale on an infinite or NaN gradient', () => {
    for (const bad of [Infinity, -Infinity, NaN]) {
      const u = unscale(Float32Array.of(1, bad, 3), { scale: 1024, goodSteps: 2 });
      expect(u.grad).toBeUndefined();
      expect(u.next).toEqual({ scale: 512, goodSteps: 0 });
    }
  });

  test('doubles after growthInterval good steps in a row, and an overflow restarts the count', () => {
    let s = { scale: 8, goodSteps: 0 };
    const g = Float32Array.of(16);
    const seen: number[] = [];
    // good, good, good (→ 16), good, overflow (→ 8), good, good, good (→ 16)
    for (const finite of [true, true, true, true, false, true, true, true]) {
      s = unscale(finite ? g : Float32Array.of(Infinity), s, short).next;
      seen.push(s.scale);
    }
    expect(seen).toEqual([8, 8, 16, 16, 8, 8, 8, 16]);
    // The default interval: 1999 good steps keep the scale, the 2000th doubles it.
    expect(unscale(g, { scale: 2, goodSteps: 1998 }).next).toEqual({ scale: 2, goodSteps: 1999 });
    expect(unscale(g, { scale: 2, goodSteps: 1999 }).next).toEqual({ scale: 4, goodSteps: 0 });
  });

  test('reads back only a valid saved state (positive finite scale, non-negative integer count)', () => {
    expect(parseLossScale({ scale: 256, goodSteps: 7 })).toEqual({ scale: 256, goodSteps: 7 });
    for (const bad of [null, 3, { scale: 0, goodSteps: 0 }, { scale: -1, goodSteps: 0 }, { scale: 'x', goodSteps: 0 }])
      expect(parseLossScale(bad)).toBeUndefined();
    expect(parseLossScale({ scale: 2, goodSteps: 1.5 })).toBeUndefined();
    expect(parseLossScale({ scale: Number.NaN, goodSteps: 0 })).toBeUndefined();
  });
});
