/**
 * Which folders a client may name: the one policy for the files a request names. The server reads training images
 * only inside its image roots and writes runs only inside its output root; a path is compared after normalising it
 * (`.`/`..`, doubled or back slashes), so `root/../etc` is outside. Pure string work: the adapter passes `realPath`
 * to follow symlinks as well.
 */
import { PipelineError } from '../../common/errors.ts';

/** True for `/x`, `\x`, `C:\x` and `C:/x`. */
export const isAbsolutePath = (p: string): boolean => /^([\\/]|[A-Za-z]:[\\/])/.test(p);

const split = (p: string) => {
  const drive = /^[A-Za-z]:/.exec(p)?.[0] ?? '';
  return {
    drive,
    absolute: isAbsolutePath(p),
    parts: p
      .slice(drive.length)
      .split(/[\\/]+/)
      .filter((s) => s && s !== '.'),
  };
};

/**
 * Resolves `.` and `..` and joins with `/`. `..` above an absolute root stays at the root; above a relative
 * path it is kept, so such a path is outside every root.
 * @example normalizePath('/data/a/../b//c/.') // '/data/b/c'
 */
export const normalizePath = (p: string): string => {
  const { drive, absolute, parts } = split(p);
  const out: string[] = [];
  for (const s of parts) {
    if (s !== '..') out.push(s);
    else if (out.length && out.at(-1) !== '..') out.pop();
    else if (!absolute) out.push('..');
  }
  return drive + (absolute ? '/' : '') + out.join('/') || '.';
};

/**
 * True when `path` is `root` or below it, segment by segment (so `/data2` is not inside `/data`).
 * @example isInside('/data', '/data/cats') // true
 */
export const isInside = (root: string, path: string): boolean => {
  const r = split(normalizePath(root));
  const p = split(normalizePath(path));
  if (r.absolute !== p.absolute || r.drive.toLowerCase() !== p.drive.toLowerCase()) return false;
  if (r.parts[0] === '..') return false;
  return r.parts.length <= p.parts.length && r.parts.every((s, i) => s === p.parts[i]);
};

/** How a path a client gave is resolved and checked. */
export interface RootCheck {
  /** The request field named in errors, e.g. 'images'. */
  field: string;
  /** The allowed folders; a relative path is taken relative to the first. */
  roots: string[];
  /** Follows symlinks (an adapter's job); identity when missing. */
  realPath?: (p: string) => string;
}

/**
 * The normalised (and, with `realPath`, symlink-free) path a client's `p` names, after checking it lies inside one of
 * the roots.
 * @throws PipelineError('forbidden') naming the field when it does not, or when there are no roots.
 * @example resolveInRoots('cats', { field: 'images', roots: ['/data'] }) // '/data/cats'
 */
export const resolveInRoots = (p: string, { field, roots, realPath = (x) => x }: RootCheck): string => {
  const joined = normalizePath(isAbsolutePath(p) || !roots.length ? p : `${roots[0]}/${p}`);
  const real = realPath(joined);
  if (!roots.some((r) => isInside(realPath(normalizePath(r)), real)))
    throw new PipelineError('forbidden', `${field}: '${p}' is outside the folders this server may use for it`, {
      field,
    });
  return real; // the path checked is the path used
};

/** The folders a server may use, and how it follows symlinks (an adapter's job). */
export interface PathPolicyOptions {
  imageRoots: string[];
  outRoot: string;
  modelRoots: string[];
  realPath: (p: string) => string;
}

/**
 * The server's one rule for files a request names: models only inside the model roots ('tiny' always), embeddings
 * only inside the image roots or the runs folder (where trained ones land), so a client cannot make the server
 * read anything else. Every path is compared after following its symlinks.
 * @throws PipelineError('forbidden') naming the field.
 * @example pathPolicy({ imageRoots: ['/data'], outRoot: '/runs', modelRoots: ['/models'], realPath: (p) => p
 * }).model('/etc')
 */
export const pathPolicy = ({ imageRoots, outRoot, modelRoots, realPath }: PathPolicyOptions) => {
  const allowed = (field: string, path: string, roots: string[]) => {
    if (!roots.some((r) => isInside(r, realPath(path))))
      throw new PipelineError('forbidden', `${field}: '${path}' is outside the folders this server may read`, {
        field,
      });
  };
  return {
    model: (model: string) => void (model === 'tiny' || allowed('model', model, modelRoots)),
    embedding: (field: string, path: string) => allowed(field, path, [...imageRoots, outRoot]),
  };
};
