/** Picking a few of many: the denoising steps a finished validation grid keeps beside its final picture. */

/**
 * `count` items of `items`, evenly spread, the first and last always among them.
 * @template T
 * @param {T[]} items
 * @param {number} count
 * @returns {T[]}
 * @example spread([1, 2, 3, 4, 5, 6, 7], 3) // [1, 4, 7]
 */
export const spread = (items, count) => {
  if (items.length <= count) return items;
  if (count <= 1) return items.slice(-1);
  return Array.from({ length: count }, (_, i) => items[Math.round((i * (items.length - 1)) / (count - 1))]);
};
