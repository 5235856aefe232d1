/**
 * Where a registry keeps its runs so they outlive the process: each run's record (kind, the request as the server
 * received it after its path checks, status) and its frame history — the records appended as they happen, the
 * latest droppable frame per key kept apart. A registry given a store (`createRunRegistry({ store })`) writes
 * through it and, when created, reads every stored run back: a run that was still running is `interrupted`.
 *
 * The interface is synchronous on purpose: a record frame is on its way to disk before the next step starts, in
 * the order the run emitted it, with no write queue to lose on a kill. Frames are small, and previews (the only big
 * droppables) may be written lazily by the implementation — only the newest of each kind matters.
 * `adapters/run-store.ts` keeps them on disk under the output root.
 */
import type { HistoryEntry } from './run-history.ts';
import type { RunStatus } from './run-status.ts';

/** What a store keeps of a run besides its frames. */
export interface RunRecord {
  readonly id: string;
  readonly kind: RunStatus['kind'];
  /** The request as the server received it after its path checks (JSON), so the run can be started again. */
  readonly request?: unknown;
  /** The pipeline description it was given, if any. */
  readonly pipeline?: unknown;
  /** Why its request cannot be run again, when it cannot (e.g. its uploaded images are removed when it ends). */
  readonly notResumable?: string;
  /** The status when the record was last written: at start, on resume, at the end. */
  readonly status: RunStatus;
}

/** A run as read back from a store. */
export interface StoredRun {
  readonly record: RunRecord;
  /** Its kept frames with their sequence numbers: every record frame, and the latest droppable frame per key. */
  readonly entries: HistoryEntry[];
}

/** A registry's persistence. Implementations must not throw on a torn or missing file: they skip what they cannot read. */
export interface RunStore {
  /** Every stored run, in no particular order. */
  load(): StoredRun[];
  /** Writes (replaces) a run's record, atomically. */
  putRecord(record: RunRecord): void;
  /** Appends a record frame to the run's history; returns the size in bytes of what the store now keeps for it. */
  appendRecord(id: string, entry: HistoryEntry): number;
  /** Keeps `entry` as the latest droppable frame of its key (e.g. `preview:x0`); may be written later. */
  putLatest(id: string, key: string, entry: HistoryEntry): void;
  /** Replaces the run's record frames by `entries` (the bounded history's), atomically; returns the new size. */
  rewrite(id: string, entries: HistoryEntry[]): number;
  /** Writes whatever was kept for later (droppables), now. */
  flush(id?: string): void;
  /** Forgets a run. */
  remove(id: string): void;
}
