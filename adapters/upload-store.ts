/**
 * Uploaded training images on disk: each run's upload gets its own folder outside every root, and each file a
 * name made safe — no folders, no `..`, no leading dot, only letters, digits and `._-` — so a client's file name
 * can never point anywhere else. Names that clash after cleaning get a numeric suffix.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UploadStore, UploadedFile } from '../pipeline/http/train-body.ts';

/**
 * A file name safe to join to a folder: the last path segment only, unsafe characters replaced, no leading
 * dots, at most 100 characters keeping the extension; `fallback` when nothing is left.
 * @example safeFileName('../../etc/passwd', 'f0') // 'passwd'
 * @example safeFileName('C:\\photos\\my cat.PNG', 'f0') // 'my_cat.PNG'
 */
export const safeFileName = (name: string, fallback: string): string => {
  const last = name.split(/[\\/]/).pop() ?? '';
  // No leading dot: neither a hidden file nor `..`.
  const clean = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  if (!clean || /^[_.]*$/.test(clean)) return fallback;
  if (clean.length <= 100) return clean;
  const ext = /\.[A-Za-z0-9]{1,8}$/.exec(clean)?.[0] ?? '';
  return clean.slice(0, 100 - ext.length) + ext;
};

const unique = (name: string, taken: Set<string>): string => {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  let candidate = name;
  // Case-insensitive, since the folder may live on a case-insensitive file system.
  for (let i = 1; taken.has(candidate.toLowerCase()); i++) candidate = `${stem}-${i}${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
};

/** The default upload folder: in the system's temporary folder, outside every folder a server is told to serve. */
export const defaultUploadRoot = (): string => join(tmpdir(), 'pseudoword-uploads');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but belongs to someone else
  }
};

/**
 * Removes the upload folders of servers that are no longer running (each folder is named `<pid>-<run id>`), so a
 * server killed mid-run leaves nothing behind for long. Returns how many it removed.
 */
export const sweepStaleUploads = async (root: string = defaultUploadRoot()): Promise<number> => {
  const entries = await readdir(root).catch(() => [] as string[]);
  const stale = entries.filter((e) => {
    const pid = Number(/^(\d+)-/.exec(e)?.[1]);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
  });
  await Promise.all(stale.map((e) => rm(join(root, e), { recursive: true, force: true })));
  return stale.length;
};

/**
 * An upload store writing each run's files into `<root>/<pid>-<run id>/` (default root: `defaultUploadRoot()`),
 * removed again by `remove` when the run ends.
 * @example
 * const dir = await uploadStore().save('r1', [{ name: 'cat.png', bytes }]); // '/tmp/pseudoword-uploads/4242-r1'
 */
export const uploadStore = (root: string = defaultUploadRoot()): UploadStore & { readonly root: string } => {
  const dirOf = (runId: string) => join(root, `${process.pid}-${safeFileName(runId, 'run')}`);
  return {
    root,
    async save(runId: string, files: UploadedFile[]) {
      const dir = dirOf(runId);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const taken = new Set<string>();
      for (const [i, f] of files.entries())
        await writeFile(join(dir, unique(safeFileName(f.name, `file-${i}`), taken)), f.bytes, { mode: 0o600 });
      return dir;
    },
    async remove(runId: string) {
      await rm(dirOf(runId), { recursive: true, force: true });
    },
  };
};
