/**
 * The exponential moving average a loss chart draws beside the raw, noisy per-step loss. Bias-corrected (as Adam
 * corrects its moments), so the first points are not pulled towards zero; gaps (null) are skipped and stay gaps.
 */

/**
 * @param {(number | null | undefined)[]} values in step order
 * @param {number} weight how much of the past each point keeps, 0 (no smoothing) .. <1
 * @returns {(number | null)[]}
 * @example ema([1, 3], 0.5) // [1, 2.333…]: (0.5·0.5 + 0.5·3) / (1 − 0.5²)
 */
export const ema = (values, weight) => {
  let acc = 0;
  let n = 0;
  return values.map((v) => {
    if (v == null || !Number.isFinite(v)) return null;
    acc = weight * acc + (1 - weight) * v;
    n++;
    return acc / (1 - weight ** n);
  });
};
