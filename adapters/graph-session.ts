/**
 * Opens a graph we built (a training step, an injected text encoder) whose initializers may live in the model
 * folder's external-data files. onnxruntime resolves external data relative to the model file and refuses paths
 * outside its folder and symlinks, so the graph is written into a fresh folder under the cache beside hard links to
 * those files (to a cached copy of one when the cache is on another filesystem: `cachedCopy`), with each tensor's
 * location rewritten to its link.
 * The folder is removed once the session is open (onnxruntime has read or mapped every initialiser by then): a
 * folder kept across opens would hold its links to weights the model folder has since replaced — the same graph
 * bytes, the old weights, silently — and keep deleted models' gigabytes on disk.
 */
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Model } from '../weights/onnx/proto.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { relocateExternalTensorProto } from '../weights/onnx/tensor-proto.ts';
import type { Session, SessionOptions } from '../weights/session.ts';
import { ortRuntime, ortSessionFactory } from './ort-session.ts';
import {
  cachedGraph,
  dropCachedGraph,
  fileVersion,
  reserveEntry,
  type SessionCache,
  sessionCacheKey,
} from './session-cache.ts';
import { cacheDir } from './project-paths.ts';

/** Maps an external initializer (its name and stored location) to the absolute path of its data file. */
export type ExternalSource = (initializer: string, location: string) => string;

/** Unused weight copies are removed after this long. */
const copyLifetimeMs = 7 * 864e5;

/**
 * A copy of `from` under the cache, made once per version of the file — its device, inode, size and modification
 * time name the copy, so a replaced file gets a new one — for model folders on another filesystem than the cache,
 * where a hard link cannot be made. Each use renews the copy's time; copies unused for a week are removed.
 */
export const cachedCopy = (from: string): string => {
  const key = createHash('sha256').update(fileVersion(from)).digest('hex').slice(0, 32);
  const dir = join(cacheDir(), 'weights');
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (const f of readdirSync(dir))
    if (now - statSync(join(dir, f)).mtimeMs > copyLifetimeMs) rmSync(join(dir, f), { force: true });
  const path = join(dir, key);
  if (existsSync(path)) utimesSync(path, new Date(now), new Date(now));
  else {
    const part = `${path}.${process.pid}.part`;
    copyFileSync(from, part);
    renameSync(part, path);
  }
  return path;
};

const linkOrCopy = (from: string, to: string) => {
  try {
    linkSync(from, to);
  } catch {
    linkSync(cachedCopy(from), to);
  }
};

const tensorBytes = (t: Model['graph']['initializers'][number]) =>
  t.external ? Number(t.external.find((e) => e.key === 'length')?.value ?? 0) : t.bytes.byteLength;

/** Bytes of a graph's weights, inline and external. */
export const weightBytes = (m: Model): number => m.graph.initializers.reduce((n, t) => n + tensorBytes(t), 0);

/**
 * About what onnxruntime's optimised form of a step graph holds: every weight, and a folded copy of each conv kernel
 * (the input gradients' flipped kernels; re-laid-out kernels replace their originals).
 */
export const savedBytes = (m: Model): number => {
  const bytes = new Map(m.graph.initializers.map((t) => [t.name, tensorBytes(t)]));
  const kernels = new Set(m.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.inputs[1]));
  return weightBytes(m) + [...kernels].reduce((n, k) => n + (bytes.get(k) ?? 0), 0);
};

/**
 * Writes a graph beside links to its external data in a folder of its own, opens it, and removes the folder.
 * With `cache` (CPU only), onnxruntime's optimised form of the graph is kept between runs and reopened with
 * optimisations off (adapters/session-cache.ts); where it cannot be saved or reopened the graph opens as without.
 */
export const openGraph = async (
  model: Model,
  source: ExternalSource,
  options: SessionOptions = {},
  cache?: SessionCache,
): Promise<Session> => {
  const external = model.graph.initializers.filter((t) => t.external);
  if (!external.length && !cache) return ortSessionFactory.create(encodeModel(model), options);
  const files = new Map<string, string>(); // absolute source → link name
  const initializers = model.graph.initializers.map((t) => {
    if (!t.external) return t;
    const location = t.external.find((e) => e.key === 'location')?.value ?? '';
    const from = source(t.name, location);
    let link = files.get(from);
    if (!link) files.set(from, (link = `data_${files.size}_${location.replace(/[^\w.-]/g, '_')}`));
    return relocateExternalTensorProto(t, link);
  });
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializers } });
  if (!cache || cache.maxBytes <= 0 || (options.device ?? 'cpu') !== 'cpu') return openWritten(bytes, files, options);
  const key = sessionCacheKey(bytes, [...files.keys()], options, ortRuntime);
  const cached = cachedGraph(cache, key);
  if (cached)
    try {
      const session = await ortSessionFactory.create(cached, { ...options, optimization: 'disabled' });
      cache.log?.(`opened the step's optimised graph saved by an earlier run (${cache.dir})`);
      return session;
    } catch (e) {
      // A damaged entry (a disk error, a hand edit): made again below.
      cache.log?.(`the saved optimised graph in ${cache.dir} did not open (${(e as Error).message}); making it again`);
      dropCachedGraph(cache, key);
    }
  const entry = reserveEntry(cache, key, savedBytes(model));
  if ('refused' in entry) {
    cache.log?.(`the step's optimised graph is not kept for later runs: ${entry.refused}`);
    return openWritten(bytes, files, options);
  }
  cache.log?.(`saving the step's optimised graph for later runs (once for this model and these settings)`);
  try {
    const session = await openWritten(bytes, files, { ...options, saveOptimizedTo: entry.modelPath });
    entry.commit();
    return session;
  } catch (e) {
    entry.abandon();
    throw e;
  }
};

/** Opens the graph's bytes written beside links to its weight files, in a folder removed once the session is open. */
const openWritten = async (bytes: Uint8Array, files: Map<string, string>, options: SessionOptions) => {
  if (!files.size) return ortSessionFactory.create(bytes, options);
  const root = join(cacheDir(), 'graphs');
  mkdirSync(root, { recursive: true });
  // Removed with the weights their links keep alive: the folders earlier versions kept, one per graph (16 hex digits
  // of its hash), and open folders a process that died mid-open left (a day old: no open takes that long).
  for (const f of readdirSync(root)) {
    const stale =
      /^[0-9a-f]{16}$/.test(f) || (f.startsWith('open-') && Date.now() - statSync(join(root, f)).mtimeMs > 864e5);
    if (stale) rmSync(join(root, f), { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(root, 'open-'));
  try {
    for (const [from, link] of files) linkOrCopy(from, join(dir, link));
    const path = join(dir, 'model.onnx');
    writeFileSync(path, bytes);
    return await ortSessionFactory.create(path, options);
  } finally {
    // Where a mapped file cannot be removed (Windows), the folder stays until the next cache clean-up.
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
};
