import { PipelineError } from '../../common/errors.ts';
import { END_OF_WORD } from './bpe.ts';
import { bytesToUnicode } from './bytes-to-unicode.ts';
import type { LearnedBpe } from './train-bpe.ts';

/** CLIP keeps the first 49152 − 256 − 2 merges of OpenAI's list (simple_tokenizer.py). */
const CLIP_MERGES = 49152 - 256 - 2;

/**
 * Builds CLIP's `vocab` and `merges` from OpenAI's gzipped merge list (`bpe_simple_vocab_16e6.txt.gz`), the way
 * OpenAI's SimpleTokenizer and Hugging Face's `vocab.json`/`merges.txt` derive from it: skip the header line,
 * keep 48894 merges; vocab = 256 byte symbols, the same with `</w>`, each merge's concatenation, then the two
 * specials (49408 entries). Uses the Web `DecompressionStream`, so any runtime can read the file's bytes in.
 * @example
 * const { vocab, merges } = await readOpenaiBpe(gzBytes);
 */
export const readOpenaiBpe = async (gz: Uint8Array): Promise<LearnedBpe> => {
  let text: string;
  try {
    const stream = new Blob([new Uint8Array(gz)]).stream().pipeThrough(new DecompressionStream('gzip'));
    text = await new Response(stream).text();
  } catch (e) {
    throw new PipelineError('bad_model', `OpenAI BPE file is not gzip: ${e instanceof Error ? e.message : String(e)}`);
  }
  const merges = text.split('\n').slice(1, 1 + CLIP_MERGES);
  if (merges.length < CLIP_MERGES)
    throw new PipelineError('bad_model', `OpenAI BPE file has ${merges.length} merges, CLIP needs ${CLIP_MERGES}`);
  const symbols = bytesToUnicode().symbols;
  const list = [
    ...symbols,
    ...symbols.map((s) => s + END_OF_WORD),
    ...merges.map((m) => m.split(' ').join('')),
    '<|startoftext|>',
    '<|endoftext|>',
  ];
  return { vocab: Object.fromEntries(list.map((t, id) => [t, id])), merges };
};
