import { concatMap, type OperatorFunction } from 'rxjs';
import type { Conditioned, TokenizedXl } from '../common/generate-state.ts';
import { sdxlTimeIdsTensor } from '../common/micro-conditioning.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import type { SdxlInfo } from '../weights/model-info.ts';
import { runSdxlTextEncoders } from '../weights/sdxl-text-io.ts';
import type { Session } from '../weights/session.ts';

const zerosLike = (t: Tensor<'float32'>): Tensor<'float32'> =>
  tensor('float32', t.dims, new Float32Array(t.data.length));

/**
 * SDXL's conditioning: both encoders' penultimate hidden states joined as the context, text_encoder_2's pooled
 * projection, and the micro-conditioning time ids. As diffusers' encode_prompt, an empty negative prompt is not
 * encoded when the folder says `force_zeros_for_empty_prompt`: its context and pooled embedding are zeros.
 * @example
 * tokenized$.pipe(encodeTextXl([enc1, enc2], model.info.sdxl!))
 */
export const encodeTextXl = (
  encoders: readonly [Session, Session],
  info: SdxlInfo,
): OperatorFunction<TokenizedXl, Conditioned> =>
  concatMap(async ({ condIds, uncondIds, condIds2, uncondIds2, ...job }) => {
    const zeros = info.forceZerosForEmptyPrompt && job.request.negativePrompt.trim() === '';
    const ids1 = zeros ? [condIds] : [condIds, uncondIds];
    const ids2 = zeros ? [condIds2] : [condIds2, uncondIds2];
    const [c, u] = await runSdxlTextEncoders(encoders, info, ids1, ids2);
    const timeIds = sdxlTimeIdsTensor(job.request, job.width, job.height);
    return {
      ...job,
      cond: c.context,
      uncond: u?.context ?? zerosLike(c.context),
      added: { pooled: c.pooled, uncondPooled: u?.pooled ?? zerosLike(c.pooled), timeIds },
    };
  });
