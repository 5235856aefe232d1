/**
 * A file system in memory behind the path policy's `PathProbe`, for tests of the policy and the routes without
 * touching the disk. It resolves symbolic links component by component, as the operating system does (and as the
 * disk probe in adapters/safe-files.ts does), so tests can build the link tricks the policy must see through.
 */
import type { PathKind, PathProbe } from '../../pipeline/http/path-policy.ts';

export interface MemoryTree {
  /** Folders (their parents exist implicitly). */
  dirs?: string[];
  /** Regular files and their sizes in bytes. */
  files?: Record<string, number>;
  /** Symbolic links and their absolute targets. */
  links?: Record<string, string>;
  /** FIFOs, sockets, devices. */
  others?: string[];
}

const parent = (p: string) => p.slice(0, Math.max(1, p.lastIndexOf('/')));
const join = (a: string, b: string) => (a === '/' ? `/${b}` : `${a}/${b}`);

export const memoryProbe = (tree: MemoryTree): PathProbe => {
  const files = new Map(Object.entries(tree.files ?? {}));
  const links = new Map(Object.entries(tree.links ?? {}));
  const others = new Set(tree.others ?? []);
  const dirs = new Set(['/']);
  for (const d of [...(tree.dirs ?? []), ...files.keys(), ...links.keys(), ...others])
    for (let p = d; p !== '/'; p = parent(p)) if (p !== d || (tree.dirs ?? []).includes(d)) dirs.add(p);
  const exists = (p: string) => dirs.has(p) || files.has(p) || links.has(p) || others.has(p);
  const canonical = async (p: string, base = '/'): Promise<string> => {
    const parts = (p.startsWith('/') ? p : `${base}/${p}`).split('/').filter((s) => s && s !== '.');
    let cur = '/';
    let i = 0;
    for (let hops = 0; i < parts.length; i++) {
      if (parts[i] === '..') {
        cur = parent(cur);
        continue;
      }
      const next = join(cur, parts[i]);
      if (!exists(next)) break;
      if (links.has(next)) {
        if (++hops > 40) throw new Error('link loop');
        cur = await canonical(links.get(next)!);
      } else cur = next;
    }
    for (; i < parts.length; i++) cur = parts[i] === '..' ? parent(cur) : join(cur, parts[i]);
    return cur;
  };
  const kind = async (p: string): Promise<PathKind | undefined> =>
    files.has(p)
      ? { kind: 'file', bytes: files.get(p)! }
      : dirs.has(p)
        ? { kind: 'directory' }
        : others.has(p)
          ? { kind: 'other' }
          : undefined;
  return { canonical, kind };
};
