/**
 * "Did you mean …?" for a mistyped flag or command: the known name at the smallest edit distance, if it is close
 * enough to be a typo rather than a different word.
 */

/**
 * Levenshtein distance: the fewest single-character insertions, deletions and substitutions from `a` to `b`.
 * @example editDistance('kitten', 'sitting') // 3
 */
export const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
};

/**
 * The known name nearest to `name`, or undefined when none is within a third of its length (at least 2 edits): a
 * suggestion further off than that is more confusing than none. A known name that `name` starts (`--out` for
 * `--ou`) counts as near.
 * @example nearestName('promt', ['prompt', 'steps']) // 'prompt'
 */
export const nearestName = (name: string, known: readonly string[]): string | undefined => {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(name) && name.length >= 2 ? 1 : editDistance(name, k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.k : undefined;
};
