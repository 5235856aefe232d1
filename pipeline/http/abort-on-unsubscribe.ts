/**
 * A run learns that its consumer left through an AbortSignal (the ORT loop checks it between steps) as well as
 * through unsubscription. This operator ties the two together.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';

/**
 * Aborts `controller` when the subscriber unsubscribes before the source finished — the consumer went away —
 * but not after a normal completion or an error, where nobody cancelled anything.
 * @example
 * const ac = new AbortController();
 * generate(req, ac.signal).pipe(abortOnUnsubscribe(ac)) // client disconnect → ac.signal aborts
 */
export const abortOnUnsubscribe =
  <T>(controller: AbortController): MonoTypeOperatorFunction<T> =>
  (source) =>
    new Observable<T>((subscriber) => {
      let finished = false;
      const sub = source.subscribe({
        next: (v) => subscriber.next(v),
        error: (e) => {
          finished = true;
          subscriber.error(e);
        },
        complete: () => {
          finished = true;
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        if (!finished) controller.abort(new DOMException('the consumer went away', 'AbortError'));
      };
    });
