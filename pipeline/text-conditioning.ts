/**
 * The generate pipeline's text branch for a model: SD1/SD2 tokenise once and run one encoder; SDXL tokenises with
 * both tokenizers, runs both encoders and adds the pooled prompt and micro-conditioning (stages/encode-text-xl.ts).
 */
import { pipe, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import type { Conditioned, GenerateJob } from '../common/generate-state.ts';
import { microConditioningFields } from '../common/micro-conditioning.ts';
import type { GenerateRequest } from '../common/requests.ts';
import type { SdModel } from '../weights/model-folder.ts';
import type { Session } from '../weights/session.ts';
import { encodeText } from '../stages/encode-text.ts';
import { encodeTextXl } from '../stages/encode-text-xl.ts';
import { tokenizePrompts } from '../stages/tokenize-prompts.ts';
import { tokenizePromptsXl } from '../stages/tokenize-prompts-xl.ts';

/**
 * prompt → conditioning, for the model's family.
 * @example
 * const text = await textConditioning(model, await model.session('text_encoder'));
 */
export const textConditioning = async (
  model: SdModel,
  textEncoder: Session,
): Promise<OperatorFunction<GenerateJob, Conditioned>> => {
  const sdxl = model.info.sdxl;
  if (!sdxl) return pipe(tokenizePrompts(model.tokenizer), encodeText(textEncoder));
  if (!model.tokenizer2) throw new PipelineError('bad_model', `'${model.files.root}' is SDXL but has no tokenizer_2`);
  const encoder2 = await model.session('text_encoder_2');
  return pipe(tokenizePromptsXl(model.tokenizer, model.tokenizer2), encodeTextXl([textEncoder, encoder2], sdxl));
};

/**
 * Refuses SDXL's micro-conditioning fields for a model that has none, naming them.
 * @example
 * refuseMicroConditioning(sd15, { ...request, originalSize: { width: 1024, height: 1024 } }) // throws bad_request
 */
export const refuseMicroConditioning = (model: SdModel, request: GenerateRequest): void => {
  const given = microConditioningFields(request);
  if (given.length && !model.info.sdxl)
    throw new PipelineError(
      'bad_request',
      `${given.join(', ')}: only SDXL models take micro-conditioning (original size, crop, target size); '${request.model}' is not one`,
    );
};
