import { map, type OperatorFunction } from 'rxjs';
import type { GenerateJob, TokenizedXl } from '../common/generate-state.ts';
import type { ClipTokenizer } from '../weights/tokenizer/clip-tokenizer.ts';

/**
 * SDXL's two tokenisations of the prompt and the negative prompt: `tokenizer` for text_encoder and `tokenizer_2`
 * for text_encoder_2, each padded with its own pad token (SDXL's tokenizer_2 pads with '!') to the fixed length.
 * diffusers sends the same prompt to both (prompt_2 defaults to prompt).
 * @example
 * jobs$.pipe(tokenizePromptsXl(model.tokenizer, model.tokenizer2!))
 */
export const tokenizePromptsXl = (
  tokenizer: ClipTokenizer,
  tokenizer2: ClipTokenizer,
  length = 77,
): OperatorFunction<GenerateJob, TokenizedXl> =>
  map((job) => ({
    ...job,
    condIds: tokenizer.tokenize(job.request.prompt, { length }).ids,
    uncondIds: tokenizer.tokenize(job.request.negativePrompt, { length }).ids,
    condIds2: tokenizer2.tokenize(job.request.prompt, { length }).ids,
    uncondIds2: tokenizer2.tokenize(job.request.negativePrompt, { length }).ids,
  }));
