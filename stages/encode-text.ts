import { concatMap, type OperatorFunction } from 'rxjs';
import type { Conditioned, Tokenized } from '../common/generate-state.ts';
import type { Session } from '../weights/session.ts';
import { runTextEncoder } from '../weights/text-encoder-io.ts';

/**
 * Runs the text encoder on the prompt and the negative prompt. Both rows go in one batch when the model's
 * batch dimension is free (one session run instead of two); exports with a fixed batch of 1 get two runs.
 */
export const encodeText = (session: Session): OperatorFunction<Tokenized, Conditioned> =>
  concatMap(async ({ condIds, uncondIds, ...job }) => {
    const [cond, uncond] = await runTextEncoder(session, [condIds, uncondIds]);
    return { ...job, cond, uncond };
  });
