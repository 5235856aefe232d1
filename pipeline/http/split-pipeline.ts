/**
 * Request bodies may carry a pipeline description beside the request: `{ ...request, pipeline?: {...} }`. The
 * request schemas are strict, so the description is taken off first and validated on its own, and a bad one is
 * a bad_request naming `pipeline.<field>`.
 */
import type { z } from 'zod';
import { PipelineError } from '../../common/errors.ts';
import { parseRequest } from '../../common/requests.ts';

/**
 * Separates `pipeline` from the rest of a JSON body.
 * @throws PipelineError('bad_request') when the body is not a JSON object.
 * @example splitPipeline({ prompt: 'x', pipeline: { sampler: { use: 'ddim' } } }) // { body: { prompt: 'x' }, pipeline:
 * {…} }
 */
export const splitPipeline = (value: unknown): { body: Record<string, unknown>; pipeline: unknown } => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PipelineError('bad_request', 'body must be a JSON object', { field: '' });
  const { pipeline, ...body } = value as Record<string, unknown>;
  return { body, pipeline };
};

/**
 * Validates a pipeline description; undefined stays undefined (the pipeline's defaults apply).
 * @throws PipelineError('bad_request') whose field starts with `pipeline`.
 * @example parsePipeline(generatePipelineDescription, { sampler: { use: 'heun' } }) // throws "pipeline.sampler.use:
 * …"
 */
export const parsePipeline = <S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined => {
  if (value === undefined) return undefined;
  try {
    return parseRequest(schema, value);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    const field = typeof e.details?.field === 'string' && e.details.field ? `pipeline.${e.details.field}` : 'pipeline';
    const issues = ((e.details?.issues ?? []) as { field: string; message: string }[]).map((i) => ({
      field: i.field ? `pipeline.${i.field}` : 'pipeline',
      message: i.message,
    }));
    throw new PipelineError('bad_request', `${field}: ${issues[0]?.message ?? e.message}`, { field, issues });
  }
};
