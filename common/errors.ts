/**
 * Errors are data: every failure the project reports carries a `code` a program can branch on and a message
 * that names the culprit (the op, the node, the field, the file). Inside a stream an error travels through
 * `subscriber.error` and becomes an `error` frame; over HTTP it becomes a 4xx/5xx with this JSON.
 */
export type ErrorCode =
  | 'bad_request' // a request or description failed validation
  | 'not_found' // a file, model folder, run or route that is not there
  | 'bad_model' // a model folder or ONNX file that cannot be used as it is
  | 'unsupported_op' // an op with no kernel (inference) or no gradient rule (autodiff)
  | 'shape_mismatch' // tensors whose shapes or dtypes do not fit together
  | 'bad_image' // an image that cannot be decoded
  | 'bad_embedding' // an embedding file of the wrong layout or width, or a token clash
  | 'device_unavailable' // asked for cuda where the CUDA provider cannot load
  | 'numeric' // NaN or infinity where a number was needed
  | 'cancelled' // the consumer went away
  | 'interrupted' // the server stopped (or was killed) while the run was going
  | 'conflict' // the target's state does not allow this (e.g. resuming a run that is still going)
  | 'forbidden' // a path outside the folders this server may read or write, a foreign Host or Origin
  | 'unauthorized' // a request without the server's bearer token
  | 'unsupported_media_type' // a body in a content type the route does not take
  | 'busy' // every run slot and the queue are taken: try again later
  | 'too_large' // a request body or upload over the server's limit
  | 'io' // reading or writing failed
  | 'internal';

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PipelineError';
    this.code = code;
    this.details = details;
  }
  toJSON() {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Wraps anything thrown into a PipelineError, keeping one that already is. */
export const asPipelineError = (e: unknown): PipelineError =>
  e instanceof PipelineError ? e : new PipelineError('internal', e instanceof Error ? e.message : String(e));

/** HTTP status for an error code: client mistakes are 4xx, everything else 5xx. */
export const httpStatusOf = (code: ErrorCode): number =>
  (
    ({
      bad_request: 400,
      bad_image: 400,
      bad_embedding: 400,
      forbidden: 403,
      unauthorized: 401,
      unsupported_media_type: 415,
      busy: 429,
      conflict: 409,
      not_found: 404,
      too_large: 413,
      cancelled: 499,
    }) as Record<string, number>
  )[code] ?? (code === 'bad_model' || code === 'unsupported_op' || code === 'shape_mismatch' ? 422 : 500);

/**
 * The JSON body of every non-streaming failure, wherever it is answered (the app, the pipeline routes, a runtime
 * adapter's last-resort handler): `{ error: { code, message, field?, details? } }`.
 */
export const errorBodyOf = (err: unknown) => {
  const e = asPipelineError(err);
  const { field, ...details } = e.details ?? {};
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(typeof field === 'string' && field ? { field } : {}),
      ...(Object.keys(details).length ? { details } : {}),
    },
  };
};
