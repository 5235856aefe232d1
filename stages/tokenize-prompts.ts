import { map, type OperatorFunction } from 'rxjs';
import type { GenerateJob, Tokenized } from '../common/generate-state.ts';
import type { ClipTokenizer } from '../weights/tokenizer/clip-tokenizer.ts';

/**
 * Tokenises the prompt and the negative prompt (the unconditional branch of classifier-free guidance; an empty
 * negative prompt is the empty string, as diffusers does) to the text encoder's fixed length.
 */
export const tokenizePrompts = (tokenizer: ClipTokenizer, length = 77): OperatorFunction<GenerateJob, Tokenized> =>
  map((job) => ({
    ...job,
    condIds: tokenizer.tokenize(job.request.prompt, { length }).ids,
    uncondIds: tokenizer.tokenize(job.request.negativePrompt, { length }).ids,
  }));
