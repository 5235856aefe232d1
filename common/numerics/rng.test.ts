import { describe, expect, it, test } from 'bun:test';
import { createRng, createStream, hashKey, paramStream, rngFromState, splitMix64 } from './rng.ts';

/** xoshiro128** written from its definition in unsigned BigInt arithmetic, independent of the Math.imul version. */
const referenceStream = (state: bigint[]) => {
  const M = 0xffffffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  const s = [...state];
  return () => {
    const result = (rotl((s[1] * 5n) & M, 7n) * 9n) & M;
    const t = (s[1] << 9n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    return Number(result);
  };
};

describe('rng', () => {
  it('matches the reference xoshiro128** vector from state {1, 2, 3, 4}', () => {
    // Published with Vigna's xoshiro128starstar.c and repeated in Rust rand_xoshiro's tests.
    const r = rngFromState([1, 2, 3, 4]);
    const expected = [
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ];
    expect(expected.map(() => r.nextUint32())).toEqual(expected);
  });

  it('seeds through SplitMix64, whose outputs for seed 0 are the published ones', () => {
    let s = 0n;
    const out: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const [v, next] = splitMix64(s);
      out.push(v);
      s = next;
    }
    expect(out).toEqual([0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
  });

  it('gives seed 0 the first outputs xoshiro128** defines for state (low, high words of the two SplitMix64 outputs)', () => {
    const ref = referenceStream([0x7b1dcdafn, 0xe220a839n, 0xa1b965f4n, 0x6e789e6an]);
    const r = createRng(0);
    // First output by hand: rotl(0xe220a839·5 mod 2³², 7)·9 mod 2³².
    const first = ref();
    expect(first).toBe(
      Number(
        (((((0xe220a839n * 5n) & 0xffffffffn) << 7n) | (((0xe220a839n * 5n) & 0xffffffffn) >> 25n)) * 9n) & 0xffffffffn,
      ),
    );
    expect(r.nextUint32()).toBe(first);
    for (let i = 0; i < 20; i++) expect(r.nextUint32()).toBe(ref());
  });

  it('gives the same stream for the same seed and different ones for different seeds', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xs);
  });

  it('draws uniforms in [0, 1) with mean ½ and variance 1/12', () => {
    const r = createRng(7);
    let sum = 0;
    let sq = 0;
    let outside = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      sq += u * u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005); // σ/√n ≈ 0.0009
    expect(Math.abs(sq / n - (sum / n) ** 2 - 1 / 12)).toBeLessThan(0.002);
  });

  it('draws 100k normals with mean ≈ 0, std ≈ 1, kurtosis ≈ 3', () => {
    const z = createRng(1234).fillNormal(new Float32Array(100_000));
    const n = z.length;
    const mean = z.reduce((a, b) => a + b, 0) / n;
    const v = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const k = z.reduce((a, b) => a + (b - mean) ** 4, 0) / n / (v * v);
    expect(Math.abs(mean)).toBeLessThan(0.015); // 1/√n ≈ 0.0032, so ~5σ
    expect(Math.abs(Math.sqrt(v) - 1)).toBeLessThan(0.01);
    expect(Math.abs(k - 3)).toBeLessThan(0.1);
    // P(|z| > 1.96) = 0.05 for N(0, 1).
    expect(Math.abs(z.filter((x) => Math.abs(x) > 1.96).length / n - 0.05)).toBeLessThan(0.004);
  });

  it('gives unbiased integers in [0, n)', () => {
    const r = createRng(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('forks streams that depend on key and label only, not on draws so far', () => {
    const a = createRng(9);
    const b = createRng(9);
    a.uniform();
    a.normal();
    expect(a.fork('noise').nextUint32()).toBe(b.fork('noise').nextUint32());
    expect(a.fork('noise').key).not.toBe(a.fork('crop').key);
    expect(a.fork('x').fork('y').key).not.toBe(a.fork('y').fork('x').key);
  });

  it('forks streams that are uncorrelated with the parent and each other', () => {
    const parent = createRng(11);
    const n = 50_000;
    const xs = parent.fork('a').fillNormal(new Float32Array(n));
    const ys = parent.fork('b').fillNormal(new Float32Array(n));
    const ps = createRng(11).fillNormal(new Float32Array(n));
    const corr = (u: Float32Array, w: Float32Array) => u.reduce((acc, v, i) => acc + v * w[i], 0) / n;
    // For independent N(0,1) the sample correlation has std 1/√n ≈ 0.0045.
    expect(Math.abs(corr(xs, ys))).toBeLessThan(0.025);
    expect(Math.abs(corr(xs, ps))).toBeLessThan(0.025);
  });

  it('refuses a seed that is not a safe integer', () => {
    expect(() => createRng(0.5)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(createRng(-1).key).toBe(0xffffffffffffffffn);
  });
});

describe('the keyed weight-initialisation streams', () => {
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
    let su = 0,
      sn = 0,
      sn2 = 0,
      lo = 1,
      hi = 0;
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
