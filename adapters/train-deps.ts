/**
 * The training run's dependencies on this machine: models and graphs through onnxruntime-node, images and
 * checkpoints on disk (checkpoints written atomically).
 */
import { writeFileSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import { limits } from '../common/limits.ts';
import { listFolder, pathKind, readRegularFile, readRegularText } from './safe-files.ts';
import type { TrainDeps } from '../pipeline/train/run-train.ts';
import type { ImageFile } from '../stages/encode-training-images.ts';
import { writeFileAtomic } from './fs.ts';
import { openGraph, weightBytes } from './graph-session.ts';
import { cacheDir } from './project-paths.ts';
import { type SessionCache, sessionCacheAt } from './session-cache.ts';
import { openModel } from './open-model.ts';
import { ortSessionFactory } from './ort-session.ts';
import type { Model } from '../weights/onnx/proto.ts';
import type { Device, SessionOptions } from '../weights/session.ts';
import { leanAboveBytes, leanSessions, type MemoryMode } from '../weights/training/memory-mode.ts';

/**
 * Session options for a training step graph. Under the default `auto` memory mode, big models (over 1 GiB of
 * weights) open in lean-memory mode (no pre-packed copies, initialisers outside the arena, no memory pattern): their
 * weights feed forward and backward kernels alike, and a pre-packed copy of an SD UNet is gigabytes. Small ones keep
 * onnxruntime's defaults. `lean` and `fast` (TrainRequest.memory) force one or the other.
 * bench/sd15-step.ts measures with these options.
 */
export const trainSessionOptions = (graph: Model, device?: Device, memory: MemoryMode = 'auto'): SessionOptions => ({
  device,
  ...(leanSessions(memory, weightBytes(graph)) ? { leanMemory: true } : {}),
});

/**
 * Where a step graph's optimised form is kept between runs: for big graphs on the CPU (over 1 GiB of weights), whose
 * open is mostly onnxruntime's optimisation work (tens of seconds at SD1.5 size); small ones open in moments.
 * Not in `fast` memory mode: reopened from its kept graph, the SD1.5 step with onnxruntime's default sessions ran
 * 13.9–15.8 s against 10.2–11.7 s when optimised at open (README, *Memory against speed*; the lean step runs alike
 * either way), so there a slower open is the better trade.
 */
export const trainGraphCache = (
  graph: Model,
  device?: Device,
  log?: (m: string) => void,
  memory: MemoryMode = 'auto',
): SessionCache | undefined =>
  (device ?? 'cpu') === 'cpu' && memory !== 'fast' && weightBytes(graph) > leanAboveBytes
    ? sessionCacheAt(cacheDir(), log)
    : undefined;

const skip = new Set(['.txt', '.json', '.md', '.csv', '.safetensors', '.pt', '.onnx']);

/**
 * Every regular file in `dir` that is not a caption or metadata, sorted by name; `name.txt` beside an image is its
 * caption. Read asynchronously with a size cap per file; anything that is not a regular file (a FIFO, a socket, a
 * folder) is passed over.
 */
export const readImageFolder = async (dir: string): Promise<ImageFile[]> => {
  if ((await pathKind(dir))?.kind !== 'directory')
    throw new PipelineError('not_found', `images: '${dir}' is not a folder`);
  const out: ImageFile[] = [];
  for (const f of await listFolder(dir)) {
    if (f.startsWith('.') || skip.has(extname(f).toLowerCase())) continue;
    if ((await pathKind(join(dir, f)))?.kind !== 'file') continue;
    const bytes = await readRegularFile(join(dir, f), limits.imageFileBytes, `images/${f}`);
    const caption = await readRegularText(join(dir, `${basename(f, extname(f))}.txt`), limits.jsonBodyBytes).catch(
      () => undefined,
    );
    out.push({ name: f, bytes, ...(caption !== undefined ? { caption: caption.trim() } : {}) });
  }
  return out;
};

/** `writeFileAtomic`'s temp names: `<file>.tmp-<pid>-<ms>`. */
const tempName = /\.tmp-(\d+)-\d+$/;

// A writer still alive may be mid-write. Our own pid is never one: writeFileAtomic writes synchronously, so no write
// of this process is in flight while this runs — a temp file under our pid was left by an earlier process that had
// it (a restarted container often gets the same pid).
const writerGone = (pid: number) => {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/** True for a temp file of `writeFileAtomic` whose writer is gone: nothing will ever rename it. */
export const isStaleTemp = (name: string): boolean => {
  const pid = tempName.exec(name)?.[1];
  return pid !== undefined && writerGone(Number(pid));
};

/**
 * Removes the temp files that writers killed between write and rename left in `dir` (not below it); returns how
 * many. A missing folder holds none.
 * @example await sweepStaleTemps('/runs/r1') // 1, after a kill -9 mid-checkpoint
 */
export const sweepStaleTemps = async (dir: string): Promise<number> => {
  let n = 0;
  for (const f of await listFolder(dir)) {
    if (!isStaleTemp(f) || (await pathKind(join(dir, f)))?.kind !== 'file') continue;
    await rm(join(dir, f), { force: true });
    n++;
  }
  return n;
};

export const trainDeps = (log?: (m: string) => void): TrainDeps => ({
  openModel: (name, device) => openModel(name, device, log),
  factory: ortSessionFactory,
  openGraph: (graph, source, device, memory) =>
    openGraph(graph, source, trainSessionOptions(graph, device, memory), trainGraphCache(graph, device, log, memory)),
  readImages: readImageFolder,
  async writeFiles(dir, files) {
    return Object.entries(files).map(([name, bytes]) => {
      const p = resolve(dir, name);
      writeFileAtomic(p, bytes);
      return p;
    });
  },
  sweepTemps: async (dir) => {
    const n = await sweepStaleTemps(dir);
    if (n) log?.(`removed ${n} temp files an interrupted run left in ${dir}`);
    return n;
  },
  async readFile(path) {
    try {
      return await readRegularFile(path, limits.embeddingFileBytes);
    } catch (e) {
      if (e instanceof PipelineError && e.code === 'not_found') return undefined;
      throw e;
    }
  },
  textEncoderOptions: (model) => ({
    // A text encoder with external data is rewritten beside the original so its relative paths resolve.
    async writeModel(rel, bytes) {
      const p = model.files.path(rel);
      writeFileSync(`${p}.tmp`, bytes);
      renameSync(`${p}.tmp`, p);
      return p;
    },
  }),
});
