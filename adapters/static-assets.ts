/**
 * The viewer's files from disk, for the app's `assets` hook: `/` is `viewer/index.html`, `/viewer/*` are the
 * page's own modules, and `/viewer/vendor/<lib>/*` are browser ES module builds taken straight from
 * `node_modules`, so the page needs no bundler. Only whitelisted folders and extensions are served, and a path
 * that would leave its folder is refused.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, isAbsolute } from 'node:path';
import { projectRoot } from './project-paths.ts';

/** Content types by extension; anything else is not served. */
export const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

// URL prefix → folder under the project root. The msgpack ESM build imports its siblings (`./utils/…mjs`), so a
// whole folder is mapped; the longest prefix wins.
const mounts: [prefix: string, folder: string][] = [
  ['/viewer/vendor/msgpack/', 'node_modules/@msgpack/msgpack/dist.esm'],
  ['/viewer/vendor/uplot/', 'node_modules/uplot/dist'],
  ['/viewer/', 'viewer'],
];

/** Percent-decodes each segment; undefined for anything that could step out of its folder or is malformed. */
const safeSegments = (rest: string): string[] | undefined => {
  try {
    const parts = rest.split('/').map((s) => decodeURIComponent(s));
    const bad = (s: string) => s === '' || s === '.' || s === '..' || /[/\\\0:]/.test(s) || s.startsWith('.');
    return parts.some(bad) ? undefined : parts;
  } catch {
    return undefined; // a lone '%' and friends
  }
};

/** The file a URL path names, or undefined when no mount serves it. */
export const assetPath = (path: string, root: string = projectRoot): string | undefined => {
  const p = path === '/' || path === '/viewer' || path === '/viewer/' ? '/viewer/index.html' : path;
  const mount = mounts.find(([prefix]) => p.startsWith(prefix));
  if (!mount) return undefined;
  const segments = safeSegments(p.slice(mount[0].length));
  if (!segments || !contentTypes[extname(segments.at(-1)!).toLowerCase()]) return undefined;
  const folder = resolve(root, mount[1]);
  const file = resolve(folder, ...segments);
  const rel = relative(folder, file);
  // Belt and braces: the segment check already rules this out.
  return rel.startsWith('..') || isAbsolute(rel) ? undefined : join(folder, rel);
};

/**
 * An `assets` hook for `createApp`: the response for a viewer path, or undefined (the app answers 404).
 * @example
 * const app = createApp({ ...deps, assets: staticAssets() });
 * await (await app.request('/')).text() // the viewer's index.html
 */
export const staticAssets =
  (root: string = projectRoot) =>
  async (path: string): Promise<Response | undefined> => {
    const file = assetPath(path, root);
    if (!file) return undefined;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const body = await readFile(file);
    return new Response(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), {
      headers: {
        'content-type': contentTypes[extname(file).toLowerCase()],
        // The page is edited in place during development; revalidate instead of serving a stale module.
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      },
    });
  };
