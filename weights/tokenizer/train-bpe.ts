import { PipelineError } from '../../common/errors.ts';
import { END_OF_WORD, pairKey } from './bpe.ts';
import { bytesToUnicode, toByteLevel } from './bytes-to-unicode.ts';
import { preTokenize } from './pre-tokenize.ts';

export { writeTokenizerFiles } from './write-tokenizer-files.ts';

/** Options of `trainBpe`. */
export interface TrainBpeOptions {
  /** the merge budget: at most this many merges are learned */
  merges: number;
  /** a pair must occur at least this often (counting word frequency) to be merged; default 1 */
  minFrequency?: number;
}

/** A learned tokenizer in CLIP's layout: `vocab.json`'s map and `merges.txt`'s lines (no header). */
export interface LearnedBpe {
  vocab: Record<string, number>;
  merges: string[];
}

const SPECIALS = ['<|startoftext|>', '<|endoftext|>'];

/** Counts each distinct byte-level word of the corpus, cut exactly as the tokenizer will cut it. */
const countWords = (corpus: string | readonly string[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const line of typeof corpus === 'string' ? [corpus] : corpus) {
    for (const word of preTokenize(line)) {
      if (SPECIALS.includes(word)) continue;
      const w = toByteLevel(word);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
};

/** The best pair: highest count, ties broken by the smaller key, so the result never depends on input order. */
const bestPair = (
  words: Array<{ parts: string[]; count: number }>,
  taken: ReadonlySet<string>,
  minFrequency: number,
) => {
  const counts = new Map<string, { a: string; b: string; n: number }>();
  for (const { parts, count } of words) {
    for (let i = 0; i < parts.length - 1; i++) {
      const key = pairKey(parts[i], parts[i + 1]);
      const entry = counts.get(key);
      if (entry) entry.n += count;
      else counts.set(key, { a: parts[i], b: parts[i + 1], n: count });
    }
  }
  let best: { key: string; a: string; b: string; n: number } | undefined;
  for (const [key, e] of counts) {
    if (e.n < minFrequency) continue;
    // A pair whose concatenation is already a token ("a bc" after "ab c") would need a second id for one
    // string, which vocab.json cannot hold; CLIP's layout has one new entry per merge, so skip such pairs.
    if (taken.has(e.a + e.b)) continue;
    if (!best || e.n > best.n || (e.n === best.n && key < best.key)) best = { key, ...e };
  }
  return best;
};

/**
 * Learns a small byte-level BPE tokenizer in exactly CLIP's layout: ids 0–255 the byte symbols, 256–511 the
 * same with `</w>`, then one entry per merge (the concatenation of its two parts), then `<|startoftext|>` and
 * `<|endoftext|>` last. Words are cut and cleaned as CLIP cuts them, so the result loads into
 * `createClipTokenizer` and encodes every training word as the learner left it. Deterministic.
 * @example
 * const { vocab, merges } = trainBpe(['a photo of a toy', 'a painting of a cat'], { merges: 40 });
 * createClipTokenizer({ vocab, merges }).encode('a toy').length // 2
 */
export const trainBpe = (
  corpus: string | readonly string[],
  { merges: budget, minFrequency = 1 }: TrainBpeOptions,
): LearnedBpe => {
  if (!Number.isInteger(budget) || budget < 0)
    throw new PipelineError('bad_request', `merge budget must be a non-negative integer, got ${budget}`);
  const symbols = bytesToUnicode().symbols;
  const vocabList = [...symbols, ...symbols.map((s) => s + END_OF_WORD)];
  const taken = new Set(vocabList);
  const words = [...countWords(corpus)].map(([w, count]) => {
    const chars = Array.from(w);
    return { parts: [...chars.slice(0, -1), chars[chars.length - 1] + END_OF_WORD], count };
  });
  const merges: string[] = [];
  while (merges.length < budget) {
    const best = bestPair(words, taken, minFrequency);
    if (!best) break;
    const joined = best.a + best.b;
    for (const word of words) {
      const p = word.parts;
      if (p.length < 2) continue;
      const out: string[] = [];
      for (let i = 0; i < p.length; ) {
        if (i < p.length - 1 && p[i] === best.a && p[i + 1] === best.b) out.push(joined), (i += 2);
        else out.push(p[i++]);
      }
      word.parts = out;
    }
    merges.push(best.key);
    vocabList.push(joined);
    taken.add(joined);
  }
  vocabList.push(...SPECIALS);
  return { vocab: Object.fromEntries(vocabList.map((t, id) => [t, id])), merges };
};
