/**
 * IEEE half-precision bits ↔ numbers, for float16 constants in gradient graphs and for tests that feed or read
 * float16 tensors (which the project keeps as raw Uint16 bits).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The float16 bit pattern nearest to `v` (round half to even), with overflow to ±Infinity.
 *
 * @example
 * toHalfBits(1) // 0x3c00
 */
export const toHalfBits = (v: number): number => {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too big for half
  if (e <= 0) {
    // Subnormal half: shift the mantissa (with its implicit 1) right and round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is still correct
  return h;
};

/**
 * The number a float16 bit pattern stands for.
 *
 * @example
 * fromHalfBits(0x3c00) // 1
 */
export const fromHalfBits = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
};
