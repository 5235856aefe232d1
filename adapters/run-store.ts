/**
 * The run store on disk (pipeline/runs/run-store.ts), one folder per run under `<out-root>/.pseudoword-runs/`:
 *
 * - `run.json` — the record (kind, request, status), replaced atomically (temp file + rename);
 * - `frames.log` — the record frames, appended as they happen (run-log.ts: length, CRC-32, msgpack). A kill -9
 *   mid-append leaves a torn last entry, which loading cuts off before anything is appended after it; a rewrite
 *   (to keep the size bounded) replaces the file atomically;
 * - `latest.log` — the latest droppable frame per key, replaced atomically at most once per `flushMs` (and when the
 *   record is written): previews are the biggest frames and only the newest matters, so one lost to a kill costs
 *   a picture, never a record.
 *
 * Nothing is fsync'ed: a killed process's writes are in the kernel's page cache and survive it; a power cut is not
 * guarded against.
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { decodeLog, encodeLog, encodeLogEntry } from '../pipeline/runs/run-log.ts';
import { dropKeyOf } from '../pipeline/wire/latest-wins-queue.ts';
import type { HistoryEntry } from '../pipeline/runs/run-history.ts';
import type { RunRecord, RunStore, StoredRun } from '../pipeline/runs/run-store.ts';
import { writeFileAtomic } from './fs.ts';
import { isStaleTemp } from './train-deps.ts';

/** The store's folder inside the output root. */
export const runStoreFolder = '.pseudoword-runs';

// A run id becomes a folder name: nothing that could climb out or hide.
const safeId = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

const fileSize = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};
const readOr = (p: string): Uint8Array | undefined => {
  try {
    return new Uint8Array(readFileSync(p));
  } catch {
    return undefined;
  }
};

/** What a disk store can do besides the interface: write everything pending and stop its timer. */
export interface DiskRunStore extends RunStore {
  close(): void;
}

/**
 * A store under `root` (created on the first write).
 * @example createRunRegistry({ store: diskRunStore(join(outRoot, runStoreFolder)) })
 */
export const diskRunStore = (root: string, { flushMs = 1000 }: { flushMs?: number } = {}): DiskRunStore => {
  const dirOf = (id: string) => {
    if (!safeId.test(id)) throw new Error(`run id '${id}' cannot name a folder`);
    return join(root, id);
  };
  const latest = new Map<string, Map<string, HistoryEntry>>();
  const sizes = new Map<string, number>();
  const dirty = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = (id?: string) => {
    for (const d of id === undefined ? [...dirty] : dirty.has(id) ? [id] : []) {
      dirty.delete(d);
      const kept = [...(latest.get(d)?.values() ?? [])];
      writeFileAtomic(join(dirOf(d), 'latest.log'), encodeLog(kept));
    }
  };
  const later = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      try {
        flush();
      } catch (e) {
        console.error('run store:', e);
      }
    }, flushMs);
    (timer as { unref?: () => void }).unref?.(); // a pending preview never keeps a process alive
  };

  const loadOne = (id: string): StoredRun | undefined => {
    const dir = join(root, id);
    for (const f of readdirSync(dir)) if (isStaleTemp(f)) rmSync(join(dir, f), { force: true });
    const json = readOr(join(dir, 'run.json'));
    if (!json) return undefined;
    let record: RunRecord;
    try {
      record = JSON.parse(new TextDecoder().decode(json));
    } catch {
      return undefined;
    }
    if (record?.id !== id || typeof record.status !== 'object') return undefined;
    const logPath = join(dir, 'frames.log');
    const log = readOr(logPath) ?? new Uint8Array();
    const { entries, validBytes } = decodeLog(log);
    // The torn tail goes now, so the next append follows a whole entry.
    if (validBytes < log.length) truncateSync(logPath, validBytes);
    sizes.set(id, validBytes);
    const kept = decodeLog(readOr(join(dir, 'latest.log')) ?? new Uint8Array()).entries;
    latest.set(id, new Map(kept.map((e) => [dropKeyOf(e.frame) ?? e.frame.type, e])));
    return { record, entries: [...entries, ...kept] };
  };

  return {
    load() {
      let ids: string[];
      try {
        ids = readdirSync(root).filter((d) => safeId.test(d));
      } catch {
        return [];
      }
      const out: StoredRun[] = [];
      for (const id of ids) {
        try {
          const run = loadOne(id);
          if (run) out.push(run);
        } catch {
          // An unreadable folder is skipped, not fatal: the other runs still load.
        }
      }
      return out;
    },
    putRecord(record) {
      writeFileAtomic(join(dirOf(record.id), 'run.json'), JSON.stringify(record));
      flush(record.id);
    },
    appendRecord(id, entry) {
      const dir = dirOf(id);
      const path = join(dir, 'frames.log');
      if (!sizes.has(id)) {
        mkdirSync(dir, { recursive: true });
        sizes.set(id, fileSize(path));
      }
      const bytes = encodeLogEntry(entry);
      try {
        appendFileSync(path, bytes);
      } catch (e) {
        // A part-written entry (a full disk) must not sit under the next ones: cut back to the last whole one.
        try {
          truncateSync(path, sizes.get(id));
        } catch {}
        throw e;
      }
      const size = sizes.get(id)! + bytes.length;
      sizes.set(id, size);
      return size;
    },
    putLatest(id, key, entry) {
      dirOf(id);
      let m = latest.get(id);
      if (!m) latest.set(id, (m = new Map()));
      m.set(key, entry);
      dirty.add(id);
      later();
    },
    rewrite(id, entries) {
      const bytes = encodeLog(entries);
      writeFileAtomic(join(dirOf(id), 'frames.log'), bytes);
      sizes.set(id, bytes.length);
      return bytes.length;
    },
    flush,
    remove(id) {
      latest.delete(id);
      sizes.delete(id);
      dirty.delete(id);
      rmSync(dirOf(id), { recursive: true, force: true });
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      flush();
    },
  };
};
