/**
 * The streaming wire: a run's `Observable<Frame>` as a byte stream of concatenated msgpack objects, and back.
 * The run pushes at its own pace; the consumer pulls at its own. Between them sits a latest-wins queue, so a slow
 * consumer gets every record (loss, image, …) but only the newest latent/preview/progress, and memory stays
 * bounded. Cancelling the byte stream unsubscribes the run, which is how a client disconnect stops the ORT loop.
 */
import { Encoder, decodeMultiStream } from '@msgpack/msgpack';
import { Subject, takeUntil, type Observable, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { parseFrame, type Frame } from '../../common/frames.ts';
import { endWithErrorFrame, errorFrameOf } from './end-with-error-frame.ts';
import { latestWinsQueue } from './latest-wins-queue.ts';

/** How `encodeFrames` behaves at its edges. */
export interface EncodeFramesOptions {
  /** runId for an `error` frame when the run fails before emitting any frame. */
  runId?: string;
  /** Aborting it counts as the consumer going away: the run is unsubscribed and the stream closes. */
  signal?: AbortSignal;
  /**
   * Most frames that may wait for a consumer (droppable ones collapse, records do not). Past it the run is
   * stopped and the stream ends with a 'cancelled' error frame rather than growing without limit. Default 10 000.
   */
  maxPending?: number;
}

/**
 * Encodes frames into a pull-driven byte stream, one msgpack object per chunk. The source is subscribed when the
 * stream starts; errors become a final `error` frame; the stream closes after `done`/`error`/completion.
 * @example
 * return new Response(encodeFrames(run$, { signal: req.signal }), { headers: { 'content-type':
 * 'application/vnd.msgpack' } });
 */
export const encodeFrames = (source: Observable<Frame>, opts: EncodeFramesOptions = {}): ReadableStream<Uint8Array> => {
  const { signal, maxPending = 10_000 } = opts;
  const queue = latestWinsQueue();
  // ignoreUndefined: an optional field set to undefined would otherwise arrive as nil, which the schema rejects.
  const encoder = new Encoder({ ignoreUndefined: true });
  let sub: Subscription | undefined;
  let ended = false; // the source will push nothing more
  let closed = false; // the consumer is gone or the stream is closed
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stop = () => {
    closed = true;
    sub?.unsubscribe();
    queue.clear();
    signal?.removeEventListener('abort', onAbort);
    notify();
  };
  let onAbort = () => {};

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        onAbort = () => {
          if (closed) return;
          stop();
          controller.close();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        // takeUntil, not sub.unsubscribe(): a synchronous source overflows inside subscribe(), before `sub` exists.
        const overflow = new Subject<void>();
        sub = source.pipe(endWithErrorFrame(opts.runId), takeUntil(overflow)).subscribe({
          next(frame) {
            queue.push(frame);
            if (queue.size > maxPending) {
              const why = `consumer fell ${maxPending} frames behind; run stopped`;
              queue.push(errorFrameOf(new PipelineError('cancelled', why), frame.runId));
              overflow.next();
            }
            notify();
          },
          complete() {
            ended = true;
            notify();
          },
        });
      },
      async pull(controller) {
        while (queue.size === 0 && !ended && !closed) await new Promise<void>((r) => (wake = r));
        if (closed) return;
        const frame = queue.shift();
        if (frame) return controller.enqueue(encoder.encode(frame));
        stop();
        controller.close();
      },
      cancel() {
        stop();
      },
    },
    // highWaterMark 0: nothing is encoded ahead of a read, so every pending frame stays in the latest-wins
    // queue where a newer one can still replace it.
    { highWaterMark: 0 },
  );
};

/**
 * Decodes a byte stream of concatenated msgpack objects into validated frames. Leaving the loop early cancels a
 * ReadableStream source (its async iterator does that), which on a client closes the connection.
 * @throws PipelineError('io') for a value that is not a valid frame; msgpack's DecodeError for corrupt bytes.
 * @example for await (const frame of decodeFrames(res.body!)) if (frame.type === 'image') save(frame.png);
 */
export async function* decodeFrames(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Frame> {
  for await (const value of decodeMultiStream(stream)) yield parseFrame(value);
}
