/**
 * Uploaded training images on disk: each upload gets a fresh folder under `<cache>/uploads/`, and each file a
 * name made safe — no folders, no `..`, no leading dot, only letters, digits and `._-` — so a client's file name
 * can never point anywhere else. Names that clash after cleaning get a numeric suffix.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UploadStore, UploadedFile } from '../pipeline/http/train-body.ts';
import { cacheDir } from './project-paths.ts';

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

/**
 * An upload store writing under `root` (default `<cache>/uploads`).
 * @example
 * const dir = await uploadStore().save([{ name: 'cat.png', bytes }]); // '<cache>/uploads/upload-Ab12Cd/cat.png'
 */
export const uploadStore = (root: string = join(cacheDir(), 'uploads')): UploadStore => ({
  async save(files: UploadedFile[]) {
    mkdirSync(root, { recursive: true });
    const dir = mkdtempSync(join(root, 'upload-'));
    const taken = new Set<string>();
    files.forEach((f, i) => writeFileSync(join(dir, unique(safeFileName(f.name, `file-${i}`), taken)), f.bytes));
    return dir;
  },
});
