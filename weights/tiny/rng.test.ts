import { describe, expect, test } from 'bun:test';
import { createStream, hashKey, paramStream } from './rng.ts';

describe('the tiny model RNG', () => {
  test('matches mulberry32 values computed independently (Python, 32-bit arithmetic)', () => {
    const s = createStream(1);
    expect([s.next(), s.next(), s.next()]).toEqual([2693262067, 11749833, 2265367787]);
    const z = createStream(0);
    expect([z.next(), z.next(), z.next()]).toEqual([1144304738, 1416247, 958946056]);
  });

  test('keys each parameter by seed and name with FNV-1a', () => {
    expect(hashKey(0, 'conv_in.weight')).toBe(138358607);
    expect(hashKey(7, 'conv_in.weight')).toBe(2768529168);
  });

  test('gives uniforms in [0, 1) and normals with mean 0 and variance 1', () => {
    const r = paramStream(3, 'x');
    const n = 200_000;
    let su = 0, sn = 0, sn2 = 0, lo = 1, hi = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      su += u;
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(su / n).toBeCloseTo(0.5, 2);
    expect(sn / n).toBeCloseTo(0, 2);
    expect(sn2 / n).toBeCloseTo(1, 1);
  });
});
