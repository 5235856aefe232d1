/**
 * How many runs execute at once. A run past `maxRuns` waits in a queue (its stream is open, its frames start
 * when a slot frees); past `maxQueued` waiting runs the request is refused at once with `busy` (HTTP 429 and a
 * Retry-After), so a burst of requests can neither exhaust memory nor pile up without end.
 */
import { Observable, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';

export interface RunSlotsOptions {
  /** Runs executing at once (≥ 1). */
  maxRuns: number;
  /** Runs waiting for a slot before requests are refused (≥ 0). */
  maxQueued: number;
  /** What a refused client is told to wait, in seconds. */
  retryAfterS?: number;
}

export interface RunSlots {
  /**
   * Takes a place for a run now — running or queued — or throws `busy`; the returned stream subscribes to
   * `source` once a slot is free and gives the slot back when it ends, errors or is unsubscribed.
   */
  admit<T>(source: Observable<T>): Observable<T>;
  /**
   * The same for work that is not an Observable (a stream pipeline's byte stream): throws `busy` at once when
   * full, else resolves, once a slot is free, to the function that gives it back (safe to call twice).
   */
  acquire(): Promise<() => void>;
  readonly running: number;
  readonly queued: number;
}

/**
 * @example
 * const slots = runSlots({ maxRuns: 1, maxQueued: 8 });
 * runs.start('generate', id, slots.admit(runGenerate(req, deps)));
 */
export const runSlots = ({ maxRuns, maxQueued, retryAfterS = 10 }: RunSlotsOptions): RunSlots => {
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = () => {
    while (running < maxRuns && waiting.length) {
      running++;
      waiting.shift()!();
    }
  };
  const slots: RunSlots = {
    acquire() {
      return new Promise<() => void>((resolve) => {
        let sub: Subscription | undefined;
        // Subscribed only once the slot is ours (admit waits for it); unsubscribing gives the slot back.
        const held = new Observable<never>(() => resolve(() => sub?.unsubscribe()));
        sub = slots.admit(held).subscribe(); // throws busy synchronously when full
      });
    },
    get running() {
      return running;
    },
    get queued() {
      return waiting.length;
    },
    admit<T>(source: Observable<T>): Observable<T> {
      if (running >= maxRuns && waiting.length >= maxQueued)
        throw new PipelineError(
          'busy',
          `this server is running ${running} runs with ${waiting.length} waiting, its limit (--max-runs ${maxRuns}); try again later`,
          { retryAfterS },
        );
      // The place is taken now, so requests arriving together cannot all pass the check above.
      let held = false;
      let wake: (() => void) | undefined;
      const ready = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const go = () => {
        held = true;
        wake!();
      };
      const release = () => {
        if (!held) return;
        held = false;
        running--;
        next();
      };
      waiting.push(go);
      next();
      return new Observable<T>((subscriber) => {
        let closed = false;
        let inner: { unsubscribe(): void } | undefined;
        ready.then(() => {
          if (closed) return release();
          inner = source.subscribe({
            next: (v) => subscriber.next(v),
            error: (e) => {
              release();
              subscriber.error(e);
            },
            complete: () => {
              release();
              subscriber.complete();
            },
          });
        });
        return () => {
          closed = true;
          inner?.unsubscribe();
          release();
          const i = waiting.indexOf(go); // still queued: leave the queue without taking a slot
          if (i >= 0) waiting.splice(i, 1);
        };
      });
    },
  };
  return slots;
};
