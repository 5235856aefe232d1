/**
 * Files on disk behind the core's `ModelFiles` interface, plus atomic writes. node:fs works on Bun, Deno and
 * Node alike, so one adapter serves all three runtimes.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
  readdirSync,
  openSync,
  readSync,
  closeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PipelineError } from '../common/errors.ts';
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
      return existsSync(inside(rel));
    },
    async readText(rel) {
      const p = inside(rel);
      return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
    },
    async readBytes(rel) {
      const p = inside(rel);
      if (!existsSync(p)) return undefined;
      const b = readFileSync(p);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    readRange(rel, offset, length) {
      const fd = openSync(inside(rel), 'r');
      try {
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

/** The absolute path with symlinks followed as far as it exists, so a link inside a root cannot lead out of it. */
export const realPath = (p: string): string => {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(realPath(parent), basename(abs));
};
