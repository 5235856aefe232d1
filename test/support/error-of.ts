import type { PipelineError } from '../../common/errors.ts';

/** The error `f` throws, for tests that check its code and message together; fails if nothing is thrown. */
export const errorOf = (f: () => unknown): PipelineError => {
  try {
    f();
  } catch (e) {
    return e as PipelineError;
  }
  throw new Error('expected an error');
};
