/**
 * The tiny model's private random numbers: one independent stream per parameter, keyed by (seed, parameter name),
 * so a parameter's values do not depend on the order layers are built in, and a big tensor can be generated chunk by
 * chunk. Only integer arithmetic and exactly-rounded float operations are used (no Math.log/cos/exp, whose last bit
 * differs between JavaScriptCore and V8), so the same seed gives byte-identical weights on Bun and Deno.
 *
 * @example
 * const r = paramStream(0, 'unet.conv_in.weight');
 * const u = r.uniform(); // in [0, 1)
 */

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
