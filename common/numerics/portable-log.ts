/**
 * fdlibm's split of ln 2: LN2_HI has its low 32 bits zero, so e·LN2_HI is exact for any binary exponent e,
 * and LN2_LO carries the rest (ln 2 = LN2_HI + LN2_LO to ~1e-27).
 */
// biome-ignore lint/correctness/noPrecisionLoss: fdlibm's constants, written as its source has them
const LN2_HI = 6.9314718036912381649e-1;
// biome-ignore lint/correctness/noPrecisionLoss: fdlibm's constants, written as its source has them
const LN2_LO = 1.90821492927058770002e-10;

/**
 * Natural logarithm built only from +, −, ×, ÷ — operations IEEE 754 rounds exactly the same way everywhere — so
 * it returns the same bits on V8 (Node, Deno) and JavaScriptCore (Bun), which `Math.log` does not promise
 * (ECMA-262 leaves its last-bit accuracy to the engine). The seeded rng's normals go through this, so one seed
 * gives one image on every runtime. Accurate to a few ulp.
 *
 * Math: write x = m·2^e with m ∈ [√½, √2) by exact halvings/doublings; then
 * ln x = e·ln 2 + 2·atanh(f), f = (m−1)/(m+1), |f| ≤ 0.1716, and
 * 2·atanh(f) = 2f·(1 + f²/3 + f⁴/5 + …), where 12 terms take f^24/25 below 2^−53.
 *
 * @example
 * portableLog(Math.E); // 1 (to a few ulp)
 */
export const portableLog = (x: number): number => {
  if (!(x > 0)) return x === 0 ? -Infinity : NaN;
  if (x === Infinity) return Infinity;
  let m = x;
  let e = 0;
  // Scaling by 2 is exact for normal numbers; subnormals just take more doublings.
  while (m < Math.SQRT1_2) {
    m *= 2;
    e--;
  }
  while (m >= Math.SQRT2) {
    m /= 2;
    e++;
  }
  const f = (m - 1) / (m + 1);
  const f2 = f * f;
  let series = 0;
  for (let k = 23; k >= 1; k -= 2) series = 1 / k + f2 * series;
  return e * LN2_HI + (e * LN2_LO + 2 * f * series);
};
