/**
 * Files on disk behind the core's `ModelFiles` interface, plus atomic writes. node:fs works on Bun, Deno and
 * Node alike, so one adapter serves all three runtimes.
 */
import {
  constants,
  existsSync,
  fstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  readdirSync,
  openSync,
  readSync,
  closeSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import { limits } from '../common/limits.ts';
import { pathKind, readRegularFile, readRegularText } from './safe-files.ts';
import type { ModelFiles } from '../weights/model-files.ts';

/** A model folder on disk. `path()` gives onnxruntime a real path so external data resolves beside the model. */
export const diskModelFiles = (root: string): ModelFiles => {
  const abs = resolve(root);
  const inside = (rel: string) => {
    const p = resolve(abs, rel);
    if (relative(abs, p).startsWith('..') || isAbsolute(relative(abs, p)))
      throw new PipelineError('bad_model', `'${rel}' points outside the model folder`);
    return p;
  };
  return {
    root: abs,
    path: inside,
    async exists(rel) {
      return (await pathKind(inside(rel)))?.kind === 'file';
    },
    // Configs and vocabularies are small; graphs are capped by protobuf's own 2 GiB. Regular files only, read
    // asynchronously: a model folder is as untrusted as any other path a request names.
    readText: (rel) => readRegularText(inside(rel), limits.modelTextBytes, rel),
    async readBytes(rel) {
      try {
        return await readRegularFile(inside(rel), limits.modelGraphBytes, rel);
      } catch (e) {
        if (e instanceof PipelineError && e.code === 'not_found') return undefined;
        throw e;
      }
    },
    readRange(rel, offset, length) {
      // Non-blocking open and a stat of the open file: a FIFO named as external data fails instead of hanging.
      const fd = openSync(inside(rel), constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        if (!fstatSync(fd).isFile())
          throw new PipelineError('bad_model', `external data '${rel}' is not a regular file`);
        const out = new Uint8Array(length);
        let got = 0;
        while (got < length) {
          const n = readSync(fd, out, got, length - got, offset + got);
          if (n === 0)
            throw new PipelineError('bad_model', `external data '${rel}' ends before offset ${offset + length}`);
          got += n;
        }
        return out;
      } finally {
        closeSync(fd);
      }
    },
  };
};

/** Writes a file atomically: a temp file beside it, then rename, so a kill never leaves a half-written file. */
export const writeFileAtomic = (path: string, data: Uint8Array | string): void => {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
};

/** Writes a set of files under `root` (each atomically). */
export const writeFiles = (root: string, files: Record<string, Uint8Array | string>): void => {
  for (const [rel, data] of Object.entries(files)) writeFileAtomic(join(root, rel), data);
};

export const isDirectory = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();
export const listFiles = (dir: string): string[] => readdirSync(dir).sort();
export const readFile = (p: string): Uint8Array => {
  if (!existsSync(p)) throw new PipelineError('not_found', `no file '${p}'`);
  const b = readFileSync(p);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};
