/**
 * One run's side of a run store: its record at start, resume and end, each record frame appended as it happens,
 * the latest droppable frame per key, and a rewrite from the bounded in-memory history whenever the stored log
 * has doubled since the last one — so what a run keeps on disk stays within about twice what it keeps in memory
 * (run-history.ts thins old records and drops old validation images), at amortised O(1) per frame.
 *
 * A store that fails (a full disk) must not stop the run: the error is reported, and the run goes on in memory.
 */
import type { Frame } from '../../common/frames.ts';
import { dropKeyOf } from '../wire/latest-wins-queue.ts';
import type { HistoryEntry } from './run-history.ts';
import type { RunStatus } from './run-status.ts';
import type { RunRecord, RunStore } from './run-store.ts';

/** A run's writes to its store. */
export interface RunJournal {
  /** Writes the run's record with this status. */
  record(status: RunStatus): void;
  /** Stores a frame the history just kept. */
  frame(entry: HistoryEntry): void;
}

/** What a journal needs besides the store. */
export interface JournalOptions {
  /** Everything about the record but its status. */
  base: Omit<RunRecord, 'status'>;
  /** The history's kept entries, for a rewrite. */
  entries: () => HistoryEntry[];
  /** A log is first rewritten past this many bytes (default 8 MiB), then each time it doubles. */
  compactBytes?: number;
  onError: (e: unknown) => void;
}

const isRecord = (f: Frame) => dropKeyOf(f) === undefined;

/**
 * A journal for one run.
 * @example const j = runJournal(store, { base: { id, kind }, entries: () => history.entries(), onError: console.error });
 */
export const runJournal = (store: RunStore, o: JournalOptions): RunJournal => {
  const { id } = o.base;
  const minBytes = o.compactBytes ?? 8 * 2 ** 20;
  let compactAt = minBytes;
  const guard = (write: () => void) => {
    try {
      write();
    } catch (e) {
      o.onError(e);
    }
  };
  return {
    record: (status) => guard(() => store.putRecord({ ...o.base, status })),
    frame: (entry) =>
      guard(() => {
        const key = dropKeyOf(entry.frame);
        if (key !== undefined) return store.putLatest(id, key, entry);
        const bytes = store.appendRecord(id, entry);
        if (bytes <= compactAt) return;
        const kept = store.rewrite(
          id,
          o.entries().filter((e) => isRecord(e.frame)),
        );
        compactAt = Math.max(minBytes, 2 * kept);
      }),
  };
};
