import { PipelineError } from '../errors.ts';
import { portableLog } from './portable-log.ts';

/**
 * A seeded random stream that gives the same numbers on Bun, Deno and Node: the generator is xoshiro128**
 * (Blackman & Vigna 2018) on 32-bit integer math (`Math.imul`, shifts, xor), seeded through SplitMix64, and
 * the normals avoid engine-specific `Math.log`/`Math.cos` (see `portableLog`).
 */
export interface Rng {
  /** The 64-bit key this stream was built from (the seed, or a fork's derived key). */
  readonly key: bigint;
  /** The next raw 32-bit output, an integer in [0, 2³²). */
  nextUint32(): number;
  /** A float64 in [0, 1) with 53 random bits. */
  uniform(): number;
  /** A float64 standard normal. */
  normal(): number;
  /** Fills `out` with standard normals and returns it. */
  fillNormal(out: Float32Array): Float32Array;
  /** An unbiased integer in [0, n), for 1 ≤ n ≤ 2³². */
  int(n: number): number;
  /** An independent stream derived from this one's key and `label` only, whatever has been drawn so far. */
  fork(label: string): Rng;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * SplitMix64 (Steele, Lea & Flood 2014), the seeder Vigna recommends for xoshiro: state += φ·2⁶⁴, then the
 * output is the state pushed through two xor-shift-multiply rounds. Returns [output, next state].
 *
 * @example
 * splitMix64(0n)[0]; // 0xe220a8397b1dcdafn, the published first output for seed 0
 */
export const splitMix64 = (state: bigint): [bigint, bigint] => {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [z ^ (z >> 31n), s];
};

/** FNV-1a 64 over the label's UTF-8 bytes: a fixed, well-known string hash for `fork`. */
const fnv1a64 = (label: string): bigint => {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(label)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK64;
  return h;
};

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/**
 * A stream running xoshiro128** from four explicit 32-bit state words (not all zero). `createRng` is the
 * usual entry; this one exists so the generator can be checked against the reference vectors.
 *
 * @example
 * rngFromState([1, 2, 3, 4]).nextUint32(); // 11520, as Vigna's xoshiro128starstar.c
 */
export const rngFromState = (words: readonly [number, number, number, number], key = 0n): Rng => {
  const s = Uint32Array.from(words);
  if ((s[0] | s[1] | s[2] | s[3]) === 0) throw new PipelineError('internal', 'xoshiro128** state must not be all zero');
  let spare: number | undefined;

  const nextUint32 = (): number => {
    // result = rotl(s1·5, 7)·9; then the xor-shift state transition of the reference C code.
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };

  // 27 + 26 bits from two draws make a 53-bit integer k; k/2⁵³ is exact in a double.
  const uniform = () => ((nextUint32() >>> 5) * 67108864 + (nextUint32() >>> 6)) / 9007199254740992;

  // Marsaglia's polar form of Box–Muller: (u, v) uniform in the unit disc, s = u² + v²; then
  // u·√(−2 ln s / s) and v·√(−2 ln s / s) are two independent N(0, 1). Only √ and `portableLog`: no trig.
  const normal = (): number => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    let u: number;
    let v: number;
    let r: number;
    do {
      u = 2 * uniform() - 1;
      v = 2 * uniform() - 1;
      r = u * u + v * v;
    } while (r >= 1 || r === 0);
    const f = Math.sqrt((-2 * portableLog(r)) / r);
    spare = v * f;
    return u * f;
  };

  const int = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new PipelineError('bad_request', `rng.int needs an integer n in 1..2^32, got ${n}`);
    }
    // Reject the top 2³² mod n values so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const r = nextUint32();
      if (r < limit) return r % n;
    }
  };

  return {
    key,
    nextUint32,
    uniform,
    normal,
    int,
    fillNormal: (out) => {
      for (let i = 0; i < out.length; i++) out[i] = normal();
      return out;
    },
    fork: (label) => createRng(splitMix64(key ^ fnv1a64(label))[0]),
  };
};

/**
 * A seeded stream. The seed (any integer; negative ones wrap to 64 bits) is the SplitMix64 start state; its
 * first two outputs, low word first, are the xoshiro128** state.
 *
 * @example
 * const rng = createRng(42);
 * const latents = rng.fork('latents').fillNormal(new Float32Array(4 * 64 * 64));
 */
export const createRng = (seed: number | bigint): Rng => {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new PipelineError('bad_request', `seed must be a safe integer, got ${seed}`);
  }
  const key = BigInt.asUintN(64, BigInt(seed));
  const [a, s1] = splitMix64(key);
  const [b] = splitMix64(s1);
  const lo = (x: bigint) => Number(x & 0xffffffffn);
  const hi = (x: bigint) => Number(x >> 32n);
  const words: [number, number, number, number] = [lo(a), hi(a), lo(b), hi(b)];
  // An all-zero state has probability 2⁻¹²⁸; nudge it rather than fail.
  if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
  return rngFromState(words, key);
};

// ---------------------------------------------------------------------------------------------------------------
// Keyed streams for initial model weights: one independent mulberry32 stream per parameter, keyed by (seed,
// parameter name), so a parameter's values do not depend on the order layers are built in and a big tensor can be
// generated chunk by chunk. Only integer arithmetic and exactly-rounded float operations (no Math.log/cos/exp,
// whose last bit differs between JavaScriptCore and V8), so a seed gives byte-identical weights on Bun and Deno.
// Kept beside xoshiro rather than replaced by `createRng(seed).fork(name)`: the shipped `tiny` model's
// pretraining started from these exact weights, and `pretrain --seed 0` must still reproduce it.
// ---------------------------------------------------------------------------------------------------------------

/**
 * FNV-1a over the UTF-16 code units of a string, with the seed (both 32-bit halves) folded in first.
 *
 * @example
 * hashKey(0, 'conv_in.weight'); // 138358607
 */
export const hashKey = (seed: number, key: string): number => {
  let h = Math.imul(0x811c9dc5 ^ (seed >>> 0), 0x01000193) >>> 0;
  h = Math.imul(h ^ ((seed / 0x100000000) >>> 0), 0x01000193) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
};

/** A mulberry32 stream: `next()` is a uniform uint32, `uniform()` a float in [0, 1) with 32 random bits. */
export interface Stream {
  next(): number;
  uniform(): number;
  /** Approximately standard normal (see `normalFrom`). */
  normal(): number;
}

/**
 * mulberry32 (Tommy Ettinger): tiny, fast, passes PractRand to 2^32 outputs — plenty for initial weights.
 *
 * @example
 * createStream(1).next(); // 2693262067
 */
export const createStream = (state: number): Stream => {
  let a = state >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const uniform = () => next() / 0x100000000;
  return { next, uniform, normal: () => normalFrom(uniform) };
};

/**
 * Irwin–Hall: the sum of 12 uniforms minus 6 has mean 0 and variance 1 and is close to normal (bounded at ±6).
 * Chosen over Box–Muller because every step is an exact sum of k/2³² values — bit-identical on every engine.
 *
 * @example
 * const z = normalFrom(createStream(7).uniform);
 */
export const normalFrom = (uniform: () => number): number => {
  let s = 0;
  for (let i = 0; i < 12; i++) s += uniform();
  return s - 6;
};

/**
 * The stream for one named parameter of a model built from `seed`.
 *
 * @example
 * const w = paramStream(0, 'conv_in.weight').uniform();
 */
export const paramStream = (seed: number, name: string): Stream => createStream(hashKey(seed, name));
