/**
 * A registered run as an HTTP response: the frames it kept so far (records, and the latest of each preview),
 * then live ones, msgpack on the wire, until the run ends. Each response only holds a cursor into the run's
 * bounded history and encodes the next frame when the client reads: a slow client skips stale previews and
 * costs no memory of its own, however far behind it falls, and never loses a record the run still keeps.
 */
import { Encoder } from '@msgpack/msgpack';
import type { Run } from '../runs/run-registry.ts';
import { frameMediaType } from './frame-response.ts';

/** How a run stream treats its client. */
export interface RunStreamOptions {
  /** Aborting it counts as the client leaving (the request's signal). */
  signal?: AbortSignal;
  /** Called when the client leaves before the run ended — e.g. to cancel the run. */
  onLeave?: () => void;
}

/**
 * The run's frames as a pull-driven byte stream, one msgpack object per chunk; it closes after the run's last
 * frame.
 * @example new Response(runFrameStream(run, { signal: req.signal }))
 */
export const runFrameStream = (run: Run, { signal, onLeave }: RunStreamOptions = {}): ReadableStream<Uint8Array> => {
  // ignoreUndefined: an optional field set to undefined would otherwise arrive as nil, which the schema rejects.
  const encoder = new Encoder({ ignoreUndefined: true });
  let cursor = -1;
  let closed = false;
  let wake: (() => void) | undefined;
  const leave = () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    wake?.();
    if (!run.ended) onLeave?.();
  };
  let onAbort = () => {};

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        onAbort = () => {
          if (closed) return;
          leave();
          controller.close();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
      },
      async pull(controller) {
        for (;;) {
          if (closed) return;
          const next = run.after(cursor);
          if (next) {
            cursor = next.seq;
            return controller.enqueue(encoder.encode(next.frame));
          }
          if (run.ended) {
            closed = true;
            signal?.removeEventListener('abort', onAbort);
            return controller.close();
          }
          await new Promise<void>((resolve) => {
            const off = run.onChange(() => {
              off();
              resolve();
            });
            wake = () => {
              off();
              resolve();
            };
          });
          wake = undefined;
        }
      },
      cancel() {
        leave();
      },
    },
    // highWaterMark 0: nothing is encoded ahead of a read, so a preview is picked only when the client asks.
    { highWaterMark: 0 },
  );
};

/**
 * A 200 response streaming `run`, with its id in `x-run-id`.
 * @example return runResponse(run, { signal: c.req.raw.signal, onLeave: () => runs.cancel(run.id) });
 */
export const runResponse = (run: Run, options: RunStreamOptions = {}): Response =>
  new Response(runFrameStream(run, options), {
    headers: {
      'content-type': frameMediaType,
      'cache-control': 'no-store',
      // Proxies such as nginx would otherwise hold frames back to fill their buffers.
      'x-accel-buffering': 'no',
      'x-run-id': run.id,
    },
  });
