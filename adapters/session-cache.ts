/**
 * onnxruntime's optimised form of a big step graph, kept between runs: `<cache>/sessions/<key>/model.onnx` and the
 * weights it holds in `model.data` beside it.
 *
 * Why: most of the time opening the SD1.5-size step goes on onnxruntime's graph optimisations — folding the flipped
 * conv kernels the input gradients read, re-laying out every conv kernel for NCHWc, fusions — and `train` redid that
 * work at every run on the same model with the same settings (a queue worker at every job). onnxruntime writes the
 * optimised graph when asked; opened with optimisations off it is the same session, its outputs equal to the bit,
 * ready in a third of the time (README, Benchmarks). The first open pays for writing it.
 *
 * An entry's key is everything that decides what onnxruntime would make: the graph's bytes, the version (path,
 * device, inode, size, modification time) of every weight file it reads, the session options, onnxruntime's version
 * and the CPU, its model and instruction-set flags (onnxruntime warns that an NCHWc graph is for the machine that
 * made it: its block size follows the vector width). A re-exported model folder is a new key, never the old weights. An entry is written in a `.part`
 * folder and renamed when whole, so no reader sees half of one; a use renews its time; entries unused for two weeks go,
 * and the least recently used while the cache is over its bound.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { arch, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { SessionOptions } from '../weights/session.ts';

/** Where the cache lives and how big it may grow. */
export interface SessionCache {
  /** The folder holding one folder per entry. */
  dir: string;
  /** The bound on all entries' bytes; the least recently used go first. 0: nothing is cached. */
  maxBytes: number;
  /** Says what the cache did (saved, reused, could not save), for a run's log. */
  log?: (message: string) => void;
}

const unusedLifetimeMs = 14 * 864e5;
const partLifetimeMs = 864e5;

/** A file's version, as a string: replacing or rewriting the file changes it. */
export const fileVersion = (path: string): string => {
  const st = statSync(path);
  return `${resolve(path)}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeMs}`;
};

/**
 * The CPU's instruction-set flags where the system lists them (Linux): two virtual machines can report the same CPU
 * model with different vector extensions enabled, and onnxruntime's NCHWc block size follows the widest one.
 */
const cpuFeatures = (): string => {
  try {
    return /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '';
  } catch {
    return '';
  }
};

/** The key of a graph's optimised form (see the file's comment for what goes in). */
export const sessionCacheKey = (
  graph: Uint8Array,
  weightFiles: readonly string[],
  options: SessionOptions,
  runtime: string,
): string => {
  const h = createHash('sha256');
  h.update(graph);
  for (const f of weightFiles) h.update(`\0file\0${fileVersion(f)}`);
  const sorted = Object.fromEntries(Object.entries(options).sort(([a], [b]) => a.localeCompare(b)));
  h.update(`\0options\0${JSON.stringify(sorted)}\0runtime\0${runtime}\0${arch()}\0${cpus()[0]?.model ?? ''}`);
  h.update(`\0features\0${cpuFeatures()}`);
  return h.digest('hex').slice(0, 32);
};

/** The entry's graph file when the cache holds it (and renews its time), else undefined. */
export const cachedGraph = (cache: SessionCache, key: string): string | undefined => {
  const dir = join(cache.dir, key);
  const model = join(dir, 'model.onnx');
  if (!existsSync(model)) return undefined;
  const now = new Date();
  utimesSync(dir, now, now);
  return model;
};

/** Removes an entry (one onnxruntime could not open). */
export const dropCachedGraph = (cache: SessionCache, key: string) =>
  rmSync(join(cache.dir, key), { recursive: true, force: true });

const folderBytes = (dir: string): number => {
  let n = 0;
  for (const f of readdirSync(dir, { withFileTypes: true }))
    n += f.isDirectory() ? folderBytes(join(dir, f.name)) : statSync(join(dir, f.name)).size;
  return n;
};

/**
 * Removes `.part` folders a day old (a process died writing them), entries unused for two weeks, then the least
 * recently used entries while all of them hold more than the bound — never `keep`, the entry just written.
 */
export const pruneSessionCache = (cache: SessionCache, keep?: string) => {
  if (!existsSync(cache.dir)) return;
  const now = Date.now();
  const entries: { name: string; used: number; bytes: number }[] = [];
  for (const name of readdirSync(cache.dir)) {
    const path = join(cache.dir, name);
    const used = statSync(path).mtimeMs;
    const age = now - used;
    if (name.endsWith('.part') ? age > partLifetimeMs : name !== keep && age > unusedLifetimeMs)
      rmSync(path, { recursive: true, force: true });
    else if (!name.endsWith('.part')) entries.push({ name, used, bytes: folderBytes(path) });
  }
  let total = entries.reduce((n, e) => n + e.bytes, 0);
  for (const e of entries.sort((a, b) => a.used - b.used)) {
    if (total <= cache.maxBytes) break;
    if (e.name === keep) continue;
    rmSync(join(cache.dir, e.name), { recursive: true, force: true });
    total -= e.bytes;
  }
};

/** Free bytes on the filesystem holding `dir` (Infinity where the runtime cannot say). */
const freeBytes = (dir: string): number => {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
};

/**
 * A folder to write an entry in, when one of about `bytes` fits: within the bound, and leaving 2 GiB free on the
 * disk. `commit` renames it into place (a concurrent writer of the same key may have won: theirs is kept) and prunes.
 */
export const reserveEntry = (
  cache: SessionCache,
  key: string,
  bytes: number,
): { modelPath: string; commit(): void; abandon(): void } | { refused: string } => {
  if (bytes > cache.maxBytes)
    return {
      refused: `its ${(bytes / 2 ** 30).toFixed(1)} GiB exceed the cache's bound (PSEUDOWORD_SESSION_CACHE_GIB)`,
    };
  mkdirSync(cache.dir, { recursive: true });
  if (freeBytes(cache.dir) < bytes + 2 ** 31)
    return { refused: `the disk holding ${cache.dir} has less than ${(bytes / 2 ** 30 + 2).toFixed(1)} GiB free` };
  const partDir = join(cache.dir, `${key}.${crypto.randomUUID().slice(0, 8)}.part`);
  mkdirSync(partDir);
  return {
    modelPath: join(partDir, 'model.onnx'),
    commit() {
      try {
        renameSync(partDir, join(cache.dir, key));
      } catch {
        rmSync(partDir, { recursive: true, force: true });
      }
      pruneSessionCache(cache, key);
    },
    abandon: () => rmSync(partDir, { recursive: true, force: true }),
  };
};

/** The cache under `root` with the bound `PSEUDOWORD_SESSION_CACHE_GIB` sets (default 24 GiB; 0 turns it off). */
export const sessionCacheAt = (root: string, log?: (message: string) => void): SessionCache => {
  const gib = Number(process.env.PSEUDOWORD_SESSION_CACHE_GIB ?? 24);
  return {
    dir: join(root, 'sessions'),
    maxBytes: Number.isFinite(gib) && gib > 0 ? gib * 2 ** 30 : 0,
    ...(log ? { log } : {}),
  };
};
