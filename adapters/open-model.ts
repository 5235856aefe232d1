/**
 * Resolves a model name to an opened model: 'tiny' is the embedded default — the trained folder shipped in
 * `weights/shipped/tiny/` (made by `pseudoword pretrain`), or, where a checkout lacks it, the untrained build made
 * by our own code into the cache on first use; 'tiny-xl' is the embedded SDXL-structured model, always built into
 * the cache on first use (untrained); anything else is a folder in the Optimum layout. Opened models are cached per
 * (folder, device).
 */
import { existsSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import { openModelFolder, type SdModel } from '../weights/model-folder.ts';
import type { Device } from '../weights/session.ts';
import { buildTinyModel, tinyModelVersion } from '../weights/tiny/build-tiny-model.ts';
import { buildTinyXlModel, tinyXlModelVersion } from '../weights/tiny/build-tiny-xl-model.ts';
import { diskModelFiles, writeFiles, isDirectory } from './fs.ts';
import { ortSessionFactory } from './ort-session.ts';
import { cacheDir, projectRoot } from './project-paths.ts';

/** The trained `tiny` committed with the project: used as it is, read-only (nothing is written into it). */
export const shippedTinyDir = (): string => join(projectRoot, 'weights', 'shipped', 'tiny');

/**
 * The folder of the embedded model: the shipped trained one when present; else the untrained build, made
 * (atomically: into a temp folder, then renamed) if absent.
 */
export const ensureTinyModel = async (onBuild?: (msg: string) => void): Promise<string> => {
  const shipped = shippedTinyDir();
  if (existsSync(join(shipped, 'model_index.json'))) return shipped;
  return ensureBuilt('tiny', tinyModelVersion, () => buildTinyModel({ seed: 0 }), onBuild);
};

/** The folder of `tiny-xl`, built (once per builder version) into the cache. */
export const ensureTinyXlModel = (onBuild?: (msg: string) => void): Promise<string> =>
  ensureBuilt('tiny-xl', tinyXlModelVersion, () => buildTinyXlModel({ seed: 0 }), onBuild);

/** Builds an embedded model into `<cache>/models/<name>-<version>` unless there (temp folder, then rename). */
const ensureBuilt = async (
  name: string,
  version: string,
  build: () => Record<string, Uint8Array>,
  onBuild?: (msg: string) => void,
): Promise<string> => {
  const dir = join(cacheDir(), 'models', `${name}-${version}`);
  if (existsSync(join(dir, 'model_index.json'))) return dir;
  onBuild?.(`building the embedded model '${name}' into ${dir} (once)`);
  const tmp = `${dir}.building-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFiles(tmp, build());
  if (!existsSync(join(dir, 'model_index.json'))) {
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } else rmSync(tmp, { recursive: true, force: true });
  return dir;
};

/** A folder path for a model name. */
export const modelPath = async (name: string, onBuild?: (msg: string) => void): Promise<string> => {
  if (name === 'tiny') return ensureTinyModel(onBuild);
  if (name === 'tiny-xl') return ensureTinyXlModel(onBuild);
  const p = resolve(name);
  if (!isDirectory(p))
    throw new PipelineError('not_found', `model '${name}' is neither an embedded model (tiny, tiny-xl) nor a folder`);
  return p;
};

const cache = new Map<string, Promise<SdModel>>();

/** Opens (once per folder and device) a model by name. */
export const openModel = (name: string, device: Device = 'cpu', onBuild?: (msg: string) => void): Promise<SdModel> => {
  const key = `${name}|${device}`;
  let m = cache.get(key);
  if (!m) {
    m = modelPath(name, onBuild).then((dir) => openModelFolder(diskModelFiles(dir), ortSessionFactory, device));
    m.catch(() => cache.delete(key));
    cache.set(key, m);
  }
  return m;
};
