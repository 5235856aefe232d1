/**
 * Which folders a client may name: the one policy for the files a request names. The server reads training images
 * only inside its image roots and writes runs only inside its output root; a path is compared after normalising it
 * (`.`/`..`, doubled or back slashes), so `root/../etc` is outside. The file system is reached only through a
 * `PathProbe` an adapter passes in.
 */
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';
import type { GenerateRequest } from '../../common/requests.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import type { PipelinesRoutesDeps } from './pipelines-routes.ts';
import { isEmbeddedModel } from '../../weights/embedded-models.ts';

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

/** What is at a path: a regular file (with its size), a folder, or something else (a FIFO, a socket, a device). */
export type PathKind = { kind: 'file'; bytes: number } | { kind: 'directory' } | { kind: 'other' };

/** The file system as the policy sees it; the disk one is `adapters/safe-files.ts`' `diskProbe`. */
export interface PathProbe {
  /**
   * The absolute path `p` names (relative to `base`) with every symlink resolved as the operating system would —
   * so a `..` after a link leaves the link's target — as far as it exists; the rest appended as written.
   */
  canonical(p: string, base?: string): Promise<string>;
  /** What is at a canonical path; undefined when nothing is. */
  kind(p: string): Promise<PathKind | undefined>;
}

/** The folders a server may use. */
export interface PathPolicyOptions {
  /** Folders training images and embeddings may be read from. */
  imageRoots: string[];
  /** The folder runs write into (and trained embeddings may be read back from). */
  outRoot: string;
  /** Folders a request may name as its model ('tiny' always works). */
  modelRoots: string[];
  /** Folders inside the output root the server keeps for itself (its run store): never a request's `out`. */
  reservedOut?: string[];
  probe: PathProbe;
}

/** The checks every route and every stage applies to a path a request names; each resolves to the path to use. */
export interface PathPolicy {
  /** An embedded model ('tiny', 'tiny-xl'), or a folder inside the model roots. */
  model(name: string, field?: string): Promise<string>;
  /** A regular file inside the image roots or the output root, at most `limits.embeddingFileBytes`. */
  embedding(path: string, field: string): Promise<string>;
  /** A folder inside the image roots. */
  images(path: string, field?: string): Promise<string>;
  /** A path inside the output root (relative ones are taken relative to it); if it exists, a folder. */
  out(path: string, field?: string): Promise<string>;
  /** The canonical roots, for messages and listings. */
  readonly roots: { images: string[]; out: string; models: string[] };
}

const forbidden = (field: string, p: string) =>
  new PipelineError('forbidden', `${field}: '${p}' is outside the folders this server may use for it`, { field });

/**
 * The server's one rule for files a request names. A path is made canonical first — every symlink of the whole
 * path resolved — and only then compared with the (canonical) roots, so neither a link inside a root nor
 * `link/..` leads out. A path outside the roots is `forbidden` whether or not it exists, and is never looked at
 * further; inside them, only regular files and folders of the expected kind pass, and files only up to their size
 * cap. Messages name the path the client gave and never anything read from it.
 * @example
 * const paths = await pathPolicy({ imageRoots: ['/data'], outRoot: '/runs', modelRoots: ['/models'], probe: diskProbe });
 * await paths.embedding('/data/cat.safetensors', 'embeddings[0]'); // '/data/cat.safetensors'
 */
export const pathPolicy = async ({
  imageRoots,
  outRoot,
  modelRoots,
  reservedOut = [],
  probe,
}: PathPolicyOptions): Promise<PathPolicy> => {
  const canon = (roots: string[]) => Promise.all(roots.map((r) => probe.canonical(r)));
  const roots = {
    images: await canon(imageRoots),
    out: await probe.canonical(outRoot),
    models: await canon(modelRoots),
  };
  const reserved = await Promise.all(reservedOut.map((r) => probe.canonical(r, roots.out)));
  const inside = async (p: string, field: string, allowed: string[]) => {
    if (!allowed.length) throw forbidden(field, p);
    const real = await probe.canonical(p, allowed[0]);
    if (!allowed.some((r) => isInside(r, real))) throw forbidden(field, p);
    return real;
  };
  const expect = async (real: string, p: string, field: string, want: 'file' | 'directory', maxBytes?: number) => {
    const k = await probe.kind(real);
    if (!k) throw new PipelineError('not_found', `${field}: '${p}' does not exist`, { field });
    if (k.kind !== want)
      throw new PipelineError(
        'bad_request',
        `${field}: '${p}' is not a ${want === 'file' ? 'regular file' : 'folder'}`,
        {
          field,
        },
      );
    if (maxBytes !== undefined && k.kind === 'file' && k.bytes > maxBytes)
      throw new PipelineError('too_large', `${field}: '${p}' is ${k.bytes} bytes; at most ${maxBytes} are read`, {
        field,
        limit: maxBytes,
      });
    return real;
  };
  return {
    roots,
    async model(name, field = 'model') {
      if (isEmbeddedModel(name)) return name;
      return expect(await inside(name, field, roots.models), name, field, 'directory');
    },
    async embedding(p, field) {
      const real = await inside(p, field, [...roots.images, roots.out]);
      return expect(real, p, field, 'file', limits.embeddingFileBytes);
    },
    async images(p, field = 'images') {
      return expect(await inside(p, field, roots.images), p, field, 'directory');
    },
    async out(p, field = 'out') {
      const real = await inside(p, field, [roots.out]);
      if (reserved.some((r) => isInside(r, real))) throw forbidden(field, p);
      const k = await probe.kind(real);
      if (k && k.kind !== 'directory')
        throw new PipelineError('bad_request', `${field}: '${p}' exists and is not a folder`, { field });
      return real;
    },
  };
};

/** The policy of a server given no folders: every path is refused; only the embedded models open. */
export const noPaths: PathPolicy = {
  roots: { images: [], out: '', models: [] },
  model: async (name, field = 'model') => {
    if (isEmbeddedModel(name)) return name;
    throw forbidden(field, name);
  },
  embedding: async (p, field) => {
    throw forbidden(field, p);
  },
  images: async (p, field = 'images') => {
    throw forbidden(field, p);
  },
  out: async (p, field = 'out') => {
    throw forbidden(field, p);
  },
};

/** A request's embedding files, each checked and replaced by its canonical path, errors naming `embeddings[i]`. */
const checkEmbeddings = (files: readonly string[], paths: PathPolicy) =>
  Promise.all(files.map((f, i) => paths.embedding(f, `embeddings[${i}]`)));

/** A generation request with its model and embedding paths checked and replaced by the canonical ones. */
export const checkGeneratePaths = async (req: GenerateRequest, paths: PathPolicy): Promise<GenerateRequest> => ({
  ...req,
  model: await paths.model(req.model),
  embeddings: await checkEmbeddings(req.embeddings, paths),
  // LoRA files are read from the same folders as embeddings (under the same size cap for now).
  lora: await Promise.all(
    req.lora.map(async (l, i) => ({ ...l, file: await paths.embedding(l.file, `lora[${i}].file`) })),
  ),
});

/**
 * The stream pipelines' dependencies with the policy applied where they open files, so a stage that names a model
 * or an embedding file (the `generate` stage) is held to the same folders as the routes.
 */
export const guardPipelineDeps = (deps: PipelinesRoutesDeps, paths: PathPolicy): PipelinesRoutesDeps => {
  const openModel = async (name: string, device: 'cpu' | 'cuda') => deps.openModel(await paths.model(name), device);
  const { generate: g } = deps;
  const generate = g && {
    ...g,
    openModel: async (name: string, device: 'cpu' | 'cuda') => g.openModel(await paths.model(name), device),
    ...(g.withEmbeddings && {
      withEmbeddings: async (model: SdModel, files: string[]) =>
        g.withEmbeddings!(model, await checkEmbeddings(files, paths)),
    }),
  };
  // The train stage writes files wherever its settings say: no server gets it through here.
  return { ...deps, openModel, generate, train: undefined };
};
