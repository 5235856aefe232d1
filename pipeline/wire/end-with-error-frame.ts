/**
 * Inside a run, failures travel as `subscriber.error`; on the wire they must become a last `error` frame, because
 * a byte stream has no error channel a client can read. This operator does that conversion.
 */
import { catchError, defer, of, tap, type OperatorFunction } from 'rxjs';
import { asPipelineError } from '../../common/errors.ts';
import type { Frame, FrameOf } from '../../common/frames.ts';

/**
 * The `error` frame for anything thrown: a PipelineError keeps its code, message and details; anything else is
 * 'internal'.
 * @example errorFrameOf(new PipelineError('numeric', 'loss is NaN'), 'r1') // { type: 'error', runId: 'r1', code:
 * 'numeric', … }
 */
export const errorFrameOf = (e: unknown, runId?: string): FrameOf<'error'> => {
  const { code, message, details } = asPipelineError(e);
  return { type: 'error', ...(runId ? { runId } : {}), code, message, ...(details ? { details } : {}) };
};

/**
 * Passes frames through; when the source errors, emits one `error` frame (with the runId of the last frame seen,
 * or `fallbackRunId`) and completes instead.
 * @example
 * generate(req).pipe(endWithErrorFrame()) // -a-b-#  becomes  -a-b-(e|)
 */
export const endWithErrorFrame =
  (fallbackRunId?: string): OperatorFunction<Frame, Frame> =>
  (source) =>
    defer(() => {
      let runId = fallbackRunId;
      return source.pipe(
        tap((f) => {
          if (f.runId) runId = f.runId;
        }),
        catchError((e: unknown) => of(errorFrameOf(e, runId))),
      );
    });
