/**
 * What a prompt loses to the text encoder's fixed context. CLIP reads 77 positions, BOS and EOS included, and
 * `tokenize` silently drops every token past the 75th; a user should hear which words the model never saw.
 */
import type { ClipTokenizer } from './clip-tokenizer.ts';

/** The context of SD1.x/2.x text encoders, as the generate and train stages tokenize to. */
export const textContext = 77;

export interface PromptOverflow {
  /** Tokens in the prompt (no BOS/EOS). */
  tokens: number;
  /** Tokens the encoder reads of them. */
  kept: number;
  /** The dropped tail, decoded back to text. */
  cut: string;
}

/**
 * The part of `text` past the context, or undefined when it all fits.
 * @example promptOverflow(tokenizer, 'a red star '.repeat(30)) // { tokens: 90, kept: 75, cut: 'star a red star …' }
 */
export const promptOverflow = (
  tokenizer: ClipTokenizer,
  text: string,
  length = textContext,
): PromptOverflow | undefined => {
  const ids = tokenizer.encode(text);
  const kept = length - 2;
  if (ids.length <= kept) return undefined;
  return { tokens: ids.length, kept, cut: tokenizer.decode(ids.slice(kept)) };
};
