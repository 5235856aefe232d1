/**
 * The server's runs, alive without their clients. A run subscribes to its source itself, keeps a bounded history
 * (see run-history.ts) and a status, and lets any number of readers attach: each one gets the records so far and
 * the latest previews, then follows live until the run ends. Cancelling unsubscribes the source — the pipeline
 * stops between steps — and ends the run with a 'cancelled' error frame. Finished runs stay listed (the newest
 * `maxFinished`) so their status and files can still be fetched.
 *
 * Given a store (run-store.ts), the registry outlives its process: every run's record and frames go to the store
 * as they happen, and a new registry reads them back — finished runs as they ended, a run that was still running
 * as `interrupted` (ended with an `interrupted` error frame that is shown, never stored). `resume` starts an ended
 * run again under its id, its history going on where it stopped.
 */
import { Observable, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { endWithErrorFrame, errorFrameOf } from '../wire/end-with-error-frame.ts';
import { runHistory, type HistoryEntry, type HistoryLimits } from './run-history.ts';
import { runJournal, type RunJournal } from './run-journal.ts';
import { RunStatus, statusAfter, type RunKind } from './run-status.ts';
import type { RunRecord, RunStore, StoredRun } from './run-store.ts';

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

/** What a run was started from, kept with it (and in the store) so it can be started again. */
export interface RunOrigin {
  /** The request as the server received it after its path checks. */
  request?: unknown;
  pipeline?: unknown;
  /** Why it cannot be started again, when it cannot. */
  notResumable?: string;
}

/** All runs of a server. */
export interface RunRegistry {
  /**
   * Registers and starts a run: it subscribes to `source` now. `meta` describes the request for listings;
   * `origin` is what it was started from.
   * @throws PipelineError('bad_request') when a run with this id is still going.
   */
  start(kind: RunKind, id: string, source: Observable<Frame>, meta?: Record<string, unknown>, origin?: RunOrigin): Run;
  /**
   * Starts an ended run again under its id: its history and status go on from where they were.
   * @throws PipelineError('not_found') for an unknown id, 'conflict' while it is still going.
   */
  resume?(id: string, source: Observable<Frame>): Run;
  /** A run's record: kind, status and what it was started from. */
  record?(id: string): RunRecord | undefined;
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

/** How much a registry keeps, and where. */
export interface RegistryOptions extends HistoryLimits {
  /** Most finished runs kept; the oldest finished go first (default 50). Running runs are never dropped. */
  maxFinished?: number;
  now?: () => number;
  /** Keeps runs across restarts; the registry loads what it holds when created. */
  store?: RunStore;
  /** A stored log is rewritten from the bounded history past this size, then each time it doubles (default 8 MiB). */
  compactBytes?: number;
  /** Where store failures go (default: console.error); the runs go on without it. */
  onStoreError?: (e: unknown) => void;
}

const iso = (ms: number) => new Date(ms).toISOString();

const interrupted = (id: string): Frame => ({
  type: 'error',
  runId: id,
  code: 'interrupted',
  message: 'the server stopped while this run was going',
});
const isInterruption = (e: HistoryEntry) => e.frame.type === 'error' && e.frame.code === 'interrupted';

/** Where a run starts from: nothing (a new run), or an earlier history and status (restored or resumed). */
interface RunSeed {
  entries?: readonly HistoryEntry[];
  status?: RunStatus;
  /** Binds the run to its store, given its history. */
  journal?: (entries: () => HistoryEntry[]) => RunJournal;
}

const createRun = (
  kind: RunKind,
  id: string,
  meta: Record<string, unknown>,
  limits: HistoryLimits,
  now: () => number,
  onEnd: () => void,
  seed: RunSeed = {},
) => {
  const history = runHistory(limits, seed.entries);
  const journal = seed.journal?.(() => history.entries());
  const listeners = new Set<() => void>();
  let status: RunStatus = seed.status ?? {
    id,
    kind,
    status: 'running',
    createdAt: iso(now()),
    step: 0,
    files: [],
    meta,
  };
  let ended = false;
  let sub: Subscription | undefined;
  let lastRunId = id;

  const notify = () => {
    for (const l of [...listeners]) l();
  };
  const add = (frame: Frame) => {
    if (ended) return;
    if (frame.runId) lastRunId = frame.runId;
    const entry = history.push(frame); // not inside `journal?.…(…)`: without a journal, that would skip the push
    journal?.frame(entry);
    status = statusAfter(status, frame);
    notify();
  };
  const end = () => {
    if (ended) return;
    ended = true;
    // A source that completes without `done` or `error` still finished normally.
    status = { ...status, status: status.status === 'running' ? 'done' : status.status, endedAt: iso(now()) };
    journal?.record(status);
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
    journal?.record(status);
    const s = source.pipe(endWithErrorFrame(id)).subscribe({ next: add, complete: end });
    // A synchronous source may have ended (or been cancelled) inside subscribe().
    if (ended) s.unsubscribe();
    else sub = s;
  };
  // A run read back from a store that was going when its server stopped: ended, saying so in a frame that is
  // shown but not stored (a resume drops it again).
  const markInterrupted = (firstTime: boolean) => {
    const f = interrupted(id);
    history.push(f);
    status = { ...statusAfter(status, f), endedAt: status.endedAt ?? iso(now()) };
    ended = true;
    if (firstTime) journal?.record(status);
  };
  const restoredEnded = () => {
    ended = true;
  };
  return { run, start, entries: () => history.entries(), markInterrupted, restoredEnded };
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
  const { maxFinished = 50, now = Date.now, store, compactBytes, onStoreError, ...limits } = options;
  const runs = new Map<string, Run>();
  const records = new Map<string, Omit<RunRecord, 'status'>>();
  const entriesOf = new Map<string, () => HistoryEntry[]>();
  const onError = onStoreError ?? ((e: unknown) => console.error('run store:', e));

  const prune = () => {
    const finished = [...runs.values()].filter((r) => r.ended);
    const endedAt = (r: Run) => r.status().endedAt ?? '';
    finished.sort((a, b) => (endedAt(a) < endedAt(b) ? -1 : endedAt(a) > endedAt(b) ? 1 : 0));
    for (const r of finished.slice(0, Math.max(0, finished.length - maxFinished))) forget(r.id);
  };
  const forget = (id: string) => {
    runs.delete(id);
    records.delete(id);
    entriesOf.delete(id);
    try {
      store?.remove(id);
    } catch (e) {
      onError(e);
    }
  };

  const journalOf = (base: Omit<RunRecord, 'status'>) =>
    store && ((entries: () => HistoryEntry[]) => runJournal(store, { base, entries, compactBytes, onError }));

  const register = (base: Omit<RunRecord, 'status'>, made: ReturnType<typeof createRun>) => {
    runs.set(base.id, made.run);
    records.set(base.id, base);
    entriesOf.set(base.id, made.entries);
    return made;
  };

  const restore = ({ record, entries }: StoredRun) => {
    const status = RunStatus.safeParse(record.status);
    if (!status.success || status.data.id !== record.id || runs.has(record.id)) return;
    const { status: _, ...base } = record;
    // The record was written at start (and at the end); what happened in between is in the frames.
    const wasRunning = status.data.status === 'running';
    const replayed = wasRunning
      ? [...entries].sort((a, b) => a.seq - b.seq).reduce((s, e) => statusAfter(s, e.frame), status.data)
      : status.data;
    const made = createRun(replayed.kind, record.id, replayed.meta, limits, now, () => {}, {
      entries,
      status: replayed,
      journal: journalOf(base),
    });
    register(base, made);
    if (wasRunning || replayed.status === 'interrupted') made.markInterrupted(wasRunning);
    else made.restoredEnded();
  };

  if (store) {
    let stored: StoredRun[] = [];
    try {
      stored = store.load();
    } catch (e) {
      onError(e);
    }
    for (const s of stored.sort((a, b) => (a.record.status.createdAt < b.record.status.createdAt ? -1 : 1))) restore(s);
    prune();
  }

  const get = (id: string) => runs.get(id);
  return {
    start(kind, id, source, meta = {}, origin = {}) {
      if (runs.get(id)?.ended === false)
        throw new PipelineError('bad_request', `a run with id '${id}' is still going`, { field: 'id' });
      const base = { id, kind, ...origin };
      // An ended run under the same id is replaced, and so is what the store kept of it.
      if (runs.has(id)) forget(id);
      const made = register(base, createRun(kind, id, meta, limits, now, prune, { journal: journalOf(base) }));
      made.start(source);
      return made.run;
    },
    resume(id, source) {
      const old = get(id);
      const base = records.get(id);
      if (!old || !base) throw new PipelineError('not_found', `no run '${id}'`);
      if (!old.ended) throw new PipelineError('conflict', `run '${id}' is still going`);
      const { endedAt: _e, error: _r, summary: _s, ...was } = old.status();
      const status: RunStatus = { ...was, status: 'running', resumes: (was.resumes ?? 0) + 1, resumedAt: iso(now()) };
      const entries = (entriesOf.get(id)?.() ?? []).filter((e) => !isInterruption(e));
      const made = register(
        base,
        createRun(old.kind, id, was.meta, limits, now, prune, { entries, status, journal: journalOf(base) }),
      );
      made.start(source);
      return made.run;
    },
    record(id) {
      const base = records.get(id);
      const run = get(id);
      return base && run && { ...base, status: run.status() };
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
