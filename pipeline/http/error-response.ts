import type { Context } from 'hono';
import { asPipelineError, errorBodyOf, httpStatusOf } from '../../common/errors.ts';

/** Answers a failure as JSON (`errorBodyOf`) with the status its code maps to (`httpStatusOf`). */
export const errorResponse = (c: Context, err: unknown) =>
  // Hono's json() types the status as a known code; httpStatusOf only ever returns real ones.
  c.json(errorBodyOf(err), httpStatusOf(asPipelineError(err).code) as 400);
