/**
 * Reading files a request names, without trusting them: only regular files (a FIFO or a device named as an
 * embedding would otherwise block the server forever), opened non-blocking and without following a final symlink,
 * checked by the opened handle's own stat (so a file swapped after a check is still caught), and never read past
 * a size cap. Asynchronous throughout: nothing here stalls the event loop that answers every other request.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import type { PathKind, PathProbe } from '../pipeline/http/path-policy.ts';

const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;
const label = (field: string | undefined, p: string) => (field ? `${field}: '${p}'` : `'${p}'`);

/**
 * The bytes of the regular file at `p`, at most `maxBytes` of them.
 * @throws PipelineError 'not_found' (nothing there), 'bad_request' (not a regular file), 'too_large' (over the cap).
 * @example const bytes = await readRegularFile('/data/cat.safetensors', limits.embeddingFileBytes, 'embeddings[0]');
 */
export const readRegularFile = async (p: string, maxBytes: number, field?: string): Promise<Uint8Array> => {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(p, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR')
      throw new PipelineError('not_found', `${label(field, p)} does not exist`, { field });
    if (errno(e) === 'ELOOP')
      throw new PipelineError('bad_request', `${label(field, p)} is a symbolic link`, { field });
    throw new PipelineError('bad_request', `${label(field, p)} cannot be read (${errno(e) ?? 'error'})`, { field });
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new PipelineError('bad_request', `${label(field, p)} is not a regular file`, { field });
    if (s.size > maxBytes)
      throw new PipelineError('too_large', `${label(field, p)} is ${s.size} bytes; at most ${maxBytes} are read`, {
        field,
        limit: maxBytes,
      });
    const out = new Uint8Array(s.size);
    let got = 0;
    while (got < out.length) {
      const { bytesRead } = await handle.read(out, got, out.length - got, got);
      if (bytesRead === 0) break; // shrank since the stat: keep what is there
      got += bytesRead;
    }
    return got === out.length ? out : out.subarray(0, got);
  } finally {
    await handle.close();
  }
};

/** A regular file's text (UTF-8), at most `maxBytes`; undefined when nothing is there. */
export const readRegularText = async (p: string, maxBytes: number, field?: string): Promise<string | undefined> => {
  try {
    return new TextDecoder().decode(await readRegularFile(p, maxBytes, field));
  } catch (e) {
    if (e instanceof PipelineError && e.code === 'not_found') return undefined;
    throw e;
  }
};

/**
 * The absolute path `p` names (relative to `base`), with every symlink resolved the way the operating system
 * resolves it — component by component, so `root/link/..` is the parent of the link's *target*, not `root` —
 * as far as the path exists; the components past that are appended as written. No lexical clean-up happens first:
 * that is exactly what let `link/..` escape a root.
 * @example await canonicalPath('images/../cats', '/srv') // '/srv/cats' when nothing is a link
 */
export const canonicalPath = async (p: string, base: string = process.cwd()): Promise<string> => {
  const parts = (isAbsolute(p) ? p : `${base}/${p}`).split('/').filter((s) => s && s !== '.');
  let cur = '/';
  let i = 0;
  for (; i < parts.length; i++) {
    const part = parts[i];
    if (part === '..') {
      cur = dirname(cur); // `cur` has no links left, so its lexical parent is its real parent
      continue;
    }
    const next = join(cur, part);
    try {
      cur = (await lstat(next)).isSymbolicLink() ? await realpath(next) : next;
    } catch (e) {
      if (errno(e) === 'ELOOP') throw new PipelineError('bad_request', `'${p}' has a symbolic link loop`);
      break; // does not exist (yet): the rest cannot be a link
    }
  }
  for (; i < parts.length; i++) cur = parts[i] === '..' ? dirname(cur) : join(cur, parts[i]);
  return cur;
};

/** What is at a canonical path (no links left in it), undefined when nothing is. */
export const pathKind = async (p: string): Promise<PathKind | undefined> => {
  try {
    const s = await stat(p);
    return s.isFile() ? { kind: 'file', bytes: s.size } : s.isDirectory() ? { kind: 'directory' } : { kind: 'other' };
  } catch {
    return undefined;
  }
};

/** The disk as the path policy sees it. */
export const diskProbe: PathProbe = { canonical: canonicalPath, kind: pathKind };

/** Entries of a folder, sorted, or [] when it cannot be listed. */
export const listFolder = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [])).sort();
