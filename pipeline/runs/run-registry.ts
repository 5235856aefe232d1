/**
 * The server's runs, alive without their clients. A run subscribes to its source itself, keeps a bounded history
 * (see run-history.ts) and a status, and lets any number of readers attach: each one gets the records so far and
 * the latest previews, then follows live until the run ends. Cancelling unsubscribes the source — the pipeline
 * stops between steps — and ends the run with a 'cancelled' error frame. Finished runs stay listed (the newest
 * `maxFinished`) so their status and files can still be fetched.
 */
import { Observable, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { endWithErrorFrame, errorFrameOf } from '../wire/end-with-error-frame.ts';
import { runHistory, type HistoryEntry, type HistoryLimits } from './run-history.ts';
import { statusAfter, type RunKind, type RunStatus } from './run-status.ts';

/** One run in the registry. */
export interface Run {
  readonly id: string;
  readonly kind: RunKind;
  /** True once the source completed, failed or was cancelled; nothing is added after. */
  readonly ended: boolean;
  /** The status now (a fresh object each call). */
  status(): RunStatus;
  /** Replays the kept frames, then follows live; completes when the run ends. Unsubscribing leaves the run alone. */
  attach(): Observable<Frame>;
  /** The kept frame right after `seq` (−1: the first), for readers that pull at their own pace. */
  after(seq: number): HistoryEntry | undefined;
  /** Calls `listener` after every new frame and at the end; returns a function that stops it. */
  onChange(listener: () => void): () => void;
  /** Stops the run if it is still going; the status after. */
  cancel(reason?: string): RunStatus;
}

/** All runs of a server. */
export interface RunRegistry {
  /**
   * Registers and starts a run: it subscribes to `source` now. `meta` describes the request for listings.
   * @throws PipelineError('bad_request') when a run with this id is still going.
   */
  start(kind: RunKind, id: string, source: Observable<Frame>, meta?: Record<string, unknown>): Run;
  get(id: string): Run | undefined;
  /** Every kept run, oldest first. */
  list(): Run[];
  /** Cancels a run; its status after, or undefined for an unknown id. */
  cancel(id: string, reason?: string): RunStatus | undefined;
  /**
   * A run's frames: replay, then live.
   * @throws PipelineError('not_found') for an unknown id.
   */
  attach(id: string): Observable<Frame>;
}

/** How much a registry keeps. */
export interface RegistryOptions extends HistoryLimits {
  /** Most finished runs kept; the oldest finished go first (default 50). Running runs are never dropped. */
  maxFinished?: number;
  now?: () => number;
}

const iso = (ms: number) => new Date(ms).toISOString();

const createRun = (
  kind: RunKind,
  id: string,
  meta: Record<string, unknown>,
  limits: HistoryLimits,
  now: () => number,
  onEnd: () => void,
) => {
  const history = runHistory(limits);
  const listeners = new Set<() => void>();
  let status: RunStatus = { id, kind, status: 'running', createdAt: iso(now()), step: 0, files: [], meta };
  let ended = false;
  let sub: Subscription | undefined;
  let lastRunId = id;

  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const add = (frame: Frame) => {
    if (ended) return;
    if (frame.runId) lastRunId = frame.runId;
    history.push(frame);
    status = statusAfter(status, frame);
    notify();
  };
  const end = () => {
    if (ended) return;
    ended = true;
    // A source that completes without `done` or `error` still finished normally.
    status = { ...status, status: status.status === 'running' ? 'done' : status.status, endedAt: iso(now()) };
    notify();
    listeners.clear();
    onEnd();
  };

  const run: Run = {
    id,
    kind,
    get ended() {
      return ended;
    },
    status: () => ({ ...status }),
    after: (seq) => history.after(seq),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    // Every reader drains from its own cursor on each change, so replay and live are one code path and a frame
    // pushed while a reader is being fed is neither lost nor reordered.
    attach: () =>
      new Observable<Frame>((subscriber) => {
        let cursor = -1;
        const drain = () => {
          for (let e = history.after(cursor); e && !subscriber.closed; e = history.after(cursor)) {
            cursor = e.seq;
            subscriber.next(e.frame);
          }
          if (ended) subscriber.complete();
        };
        const off = run.onChange(drain);
        drain();
        return off;
      }),
    cancel(reason = 'cancelled by request') {
      if (ended) return run.status();
      sub?.unsubscribe();
      add(errorFrameOf(new PipelineError('cancelled', reason), lastRunId));
      end();
      return run.status();
    },
  };

  const start = (source: Observable<Frame>) => {
    const s = source.pipe(endWithErrorFrame(id)).subscribe({ next: add, complete: end });
    // A synchronous source may have ended (or been cancelled) inside subscribe().
    if (ended) s.unsubscribe();
    else sub = s;
  };
  return { run, start };
};

/**
 * A new registry.
 * @example
 * const runs = createRunRegistry();
 * runs.start('train', id, runTrain(req, deps), { token: req.token });
 * runs.attach(id).subscribe(render); // history so far, then live
 * runs.cancel(id);                   // → status 'cancelled', a last error frame with code 'cancelled'
 */
export const createRunRegistry = (options: RegistryOptions = {}): RunRegistry => {
  const { maxFinished = 50, now = Date.now, ...limits } = options;
  const runs = new Map<string, Run>();

  const prune = () => {
    const finished = [...runs.values()].filter((r) => r.ended);
    const endedAt = (r: Run) => r.status().endedAt ?? '';
    finished.sort((a, b) => (endedAt(a) < endedAt(b) ? -1 : endedAt(a) > endedAt(b) ? 1 : 0));
    for (const r of finished.slice(0, Math.max(0, finished.length - maxFinished))) runs.delete(r.id);
  };

  const get = (id: string) => runs.get(id);
  return {
    start(kind, id, source, meta = {}) {
      if (runs.get(id)?.ended === false)
        throw new PipelineError('bad_request', `a run with id '${id}' is still going`, { field: 'id' });
      const { run, start } = createRun(kind, id, meta, limits, now, prune);
      runs.set(id, run);
      start(source);
      return run;
    },
    get,
    list: () => [...runs.values()],
    cancel: (id, reason) => get(id)?.cancel(reason),
    attach(id) {
      const run = get(id);
      if (!run) throw new PipelineError('not_found', `no run '${id}'`);
      return run.attach();
    },
  };
};
