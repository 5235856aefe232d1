/**
 * CLIP's text cleanup and pre-tokenisation, shared by the tokenizer and the BPE learner so that both cut text
 * into the same words.
 */

// Unicode White_Space, as the Rust `\s` of Hugging Face's fast CLIP normalizer; JS `\s` would also eat U+FEFF.
const WHITESPACE_RUNS = /\p{White_Space}+/gu;

// OpenAI CLIP's pattern (simple_tokenizer.py), case-insensitive as there: the specials, English contractions,
// letter runs, single digits (so "2025" is four words), and runs of anything else that is not whitespace.
const CLIP_WORDS =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

/**
 * The cleanup CLIP applies before splitting (ftfy-less): NFC (which ftfy and the fast tokenizer both apply),
 * whitespace runs collapsed to one space, ends stripped, lowercased. No HTML unescaping: Hugging Face does none.
 * @example cleanText('  A\tPhoto  ') // 'a photo'
 */
export const cleanText = (text: string): string =>
  text.normalize('NFC').replace(WHITESPACE_RUNS, ' ').replace(/^ | $/g, '').toLowerCase();

/**
 * Cleaned text cut into CLIP's pre-tokenisation words (plain text, not yet byte-level).
 * @example preTokenize("It's 42!") // ['it', "'s", '4', '2', '!']
 */
export const preTokenize = (text: string): string[] => cleanText(text).match(CLIP_WORDS) ?? [];
