import type { Context } from 'hono';
import { asPipelineError, errorBodyOf, httpStatusOf } from '../../common/errors.ts';

/**
 * Answers a failure as JSON (`errorBodyOf`) with the status its code maps to (`httpStatusOf`), plus the headers
 * HTTP asks for: Retry-After on 429, WWW-Authenticate on 401.
 */
export const errorResponse = (c: Context, err: unknown) => {
  const e = asPipelineError(err);
  const headers: Record<string, string> = {};
  if (e.code === 'busy') headers['retry-after'] = String(e.details?.retryAfterS ?? 10);
  if (e.code === 'unauthorized') headers['www-authenticate'] = 'Bearer';
  // Hono's json() types the status as a known code; httpStatusOf only ever returns real ones.
  return c.json(errorBodyOf(e), httpStatusOf(e.code) as 400, headers);
};
