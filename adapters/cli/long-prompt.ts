/** The warning for a prompt longer than the text encoder reads, naming what is cut. */
import type { ClipTokenizer } from '../../weights/tokenizer/clip-tokenizer.ts';
import { promptOverflow } from '../../weights/tokenizer/prompt-overflow.ts';

/**
 * Warns (through `log`) when `text` does not fit the text encoder's context; `what` names where it came from
 * ("--prompt", "the caption of 3.png"). Returns whether it warned.
 * @example warnIfCut(log, tokenizer, '--prompt', long) // "warning: --prompt is 90 tokens; the text encoder reads the first 75, so this is cut: '…'"
 */
export const warnIfCut = (log: (m: string) => void, tokenizer: ClipTokenizer, what: string, text: string): boolean => {
  const o = promptOverflow(tokenizer, text);
  if (o)
    log(
      `warning: ${what} is ${o.tokens} tokens; the text encoder reads the first ${o.kept}, so this is cut: '${o.cut}'`,
    );
  return o !== undefined;
};
