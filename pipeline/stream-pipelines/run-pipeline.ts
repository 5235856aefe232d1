/**
 * Running a built pipeline as a bounded stream. Input is pulled, never pushed: the next value is read from the
 * input only while fewer than `window` values are inside the first per-value segment and fewer than `highWater`
 * results wait for the consumer. So a producer faster than the pipeline, or a consumer slower than it, holds the
 * input back instead of filling memory; results come out in input order. Cancelling the output stream (or
 * aborting `signal`) unsubscribes the stages and stops reading the input. Each value read is checked against
 * the kind the first stage takes (`checkInputItem`), so wrong input stops the run with a `bad_request` naming both.
 */
import { concat, concatMap, defer, EMPTY, Observable, of, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { BuiltPipeline } from './build-pipeline.ts';
import { checkInputGiven, checkInputItem } from './input-kinds.ts';

/** The pending-results queue; `latestWinsQueue` from the wire fits, for outputs whose stale previews may go. */
export interface ResultQueue<T> {
  push(v: T): void;
  shift(): T | undefined;
  readonly size: number;
}

/** Flow-control knobs; the defaults keep at most a handful of values in memory. */
export interface RunPipelineOptions<T> {
  /** Most input values inside the first per-value segment at once (default 2: one running, one read ahead). */
  window?: number;
  /** Input is read only while fewer results than this wait for the consumer (default 2). */
  highWater?: number;
  /** Past this many waiting results (a stage emitting many per value) the run is stopped (default 10 000). */
  maxPending?: number;
  queue?: ResultQueue<T>;
  signal?: AbortSignal;
}

const fifo = <T>(): ResultQueue<T> => {
  const items: T[] = [];
  return {
    push: (v) => void items.push(v),
    shift: () => items.shift(),
    get size() {
      return items.length;
    },
  };
};

/**
 * Runs `p` over `input` (omit it for a source pipeline) and returns the results as a pull-driven stream. A value
 * of the wrong kind for the first stage, or no input for a stage that needs some, ends the stream with a
 * PipelineError('bad_request').
 * @example
 * const out = runPipeline(built, filesAsItems());
 * for await (const latent of out) save(latent);
 */
export const runPipeline = <T = unknown>(
  p: BuiltPipeline,
  input: AsyncIterable<unknown> | undefined,
  o: RunPipelineOptions<T> = {},
): ReadableStream<T> => {
  const { window = 2, highWater = 2, maxPending = 10_000, signal } = o;
  const queue = o.queue ?? fifo<T>();
  const first = p.segments[0];
  const windowed = first !== undefined && !first.whole;
  let pulled = 0;
  let finished = 0;
  let ended = false;
  let failure: unknown;
  let closed = false;
  let sub: Subscription | undefined;
  let wakeInput: (() => void) | undefined;
  let wakeOutput: (() => void) | undefined;
  // Wakes whichever side is waiting; each re-checks its own condition, so a spurious wake costs one check.
  const wake = () => {
    const [a, b] = [wakeInput, wakeOutput];
    wakeInput = wakeOutput = undefined;
    a?.();
    b?.();
  };
  const open = () => queue.size < highWater && (!windowed || pulled - finished < window);

  const source = new Observable<unknown>((subscriber) => {
    if (!input) {
      if (p.first) checkInputGiven(p.first);
      return subscriber.complete();
    }
    const it = input[Symbol.asyncIterator]();
    let stopped = false;
    (async () => {
      for (;;) {
        while (!open() && !stopped) await new Promise<void>((r) => (wakeInput = r));
        if (stopped) return;
        const r = await it.next();
        if (stopped) return;
        if (r.done) return subscriber.complete();
        // Here, where values enter the first stage, and not at compile time: only now is the input's kind known.
        if (p.first) checkInputItem(p.first, r.value, pulled);
        pulled++;
        subscriber.next(r.value);
      }
    })().catch((e) => subscriber.error(e));
    return () => {
      stopped = true;
      wake();
      void it.return?.()?.catch?.(() => undefined);
    };
  });

  // A per-value segment runs each value through its own subscription; the first segment's completions are what
  // the window counts.
  const leftFirst = defer(() => {
    finished++;
    wake();
    return EMPTY;
  });
  const stages = p.segments.map(({ whole, op }, i) =>
    whole ? op : concatMap((v: unknown) => (i === 0 ? concat(of(v).pipe(op), leftFirst) : of(v).pipe(op))),
  );
  const stop = () => {
    closed = true;
    sub?.unsubscribe();
    signal?.removeEventListener('abort', onAbort);
    wake();
  };
  let onAbort = () => {};

  return new ReadableStream<T>(
    {
      start(controller) {
        onAbort = () => {
          if (closed) return;
          stop();
          controller.error(new PipelineError('cancelled', 'the run was cancelled'));
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        sub = stages
          .reduce((s, op) => s.pipe(op), source)
          .subscribe({
            next(v) {
              queue.push(v as T);
              if (queue.size > maxPending) {
                failure = new PipelineError('cancelled', `the consumer fell ${maxPending} results behind; run stopped`);
                sub?.unsubscribe();
              }
              wake();
            },
            error(e) {
              failure = e;
              wake();
            },
            complete() {
              ended = true;
              wake();
            },
          });
      },
      async pull(controller) {
        while (queue.size === 0 && !ended && failure === undefined && !closed)
          await new Promise<void>((r) => (wakeOutput = r));
        if (closed) return;
        if (queue.size > 0) {
          controller.enqueue(queue.shift() as T);
          return wake();
        }
        stop();
        if (failure !== undefined) controller.error(failure);
        else controller.close();
      },
      cancel() {
        stop();
      },
    },
    // highWaterMark 0: nothing is pulled ahead of a read, so the queue above is the only buffer.
    { highWaterMark: 0 },
  );
};
