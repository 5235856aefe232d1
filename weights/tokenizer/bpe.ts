/** CLIP marks the last symbol of every word with this suffix, so "cat" and the "cat" in "cattle" differ. */
export const END_OF_WORD = '</w>';

/** Key of a merge in a rank table: the two symbols joined by one space (symbols never contain a space). */
export const pairKey = (a: string, b: string): string => `${a} ${b}`;

/**
 * Byte-pair encoding of one byte-level word, as OpenAI's `bpe()`: split into characters with `</w>` on the
 * last, then repeatedly merge the adjacent pair of lowest rank (every occurrence, left to right) until no pair
 * has a rank.
 * @example bpe('cat', new Map([['c a', 0], ['ca t</w>', 1]])) // ['cat</w>']
 */
export const bpe = (word: string, ranks: ReadonlyMap<string, number>): string[] => {
  const chars = Array.from(word);
  if (chars.length === 0) return [];
  let parts = [...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD];
  while (parts.length > 1) {
    let best = Infinity;
    for (let i = 0; i < parts.length - 1; i++) {
      const rank = ranks.get(pairKey(parts[i], parts[i + 1]));
      if (rank !== undefined && rank < best) best = rank;
    }
    if (best === Infinity) break;
    parts = mergeAll(parts, best, ranks);
  }
  return parts;
};

/** Merges every non-overlapping occurrence (left to right) of the pair whose rank is `rank`. */
const mergeAll = (parts: string[], rank: number, ranks: ReadonlyMap<string, number>): string[] => {
  const out: string[] = [];
  for (let i = 0; i < parts.length; ) {
    if (i < parts.length - 1 && ranks.get(pairKey(parts[i], parts[i + 1])) === rank) {
      out.push(parts[i] + parts[i + 1]);
      i += 2;
    } else out.push(parts[i++]);
  }
  return out;
};
