/**
 * Textual-inversion embedding files in the layouts the reference tools write (ANCHORS.md §2), all as
 * safetensors:
 *
 *     diffusers  { "<token>": F32[n, dim] }        __metadata__ { "format": "pt" }
 *     kohya      { "emb_params": F32[n, dim] }     the token is the file name
 *     a1111      { "string_to_param.*": F32[n, dim] }  __metadata__ { "name": token, "step": "N" }
 *
 * Reading tells the layout from the keys, the way diffusers' and A1111's loaders do; a bare [dim] tensor is one
 * vector. SDXL pairs `{clip_l, clip_g}` and pickled `.pt`/`.bin` files get clear refusals.
 */
import { PipelineError } from '../../pipeline/errors.ts';
import { readSafetensors, writeSafetensors, type SafetensorsEntry } from './safetensors.ts';

/** Which tool's key layout a file uses. */
export type EmbeddingLayout = 'diffusers' | 'kohya' | 'a1111';

/** A learned token: `count` vectors of width `dim`, row-major in `vectors`. */
export interface Embedding {
  token: string;
  vectors: Float32Array;
  count: number;
  dim: number;
  /** training step it was saved at, when the file says */
  step?: number;
}

/** An embedding as read from a file, with the layout it was in. */
export interface ReadEmbedding extends Embedding {
  layout: EmbeddingLayout;
}

/** How to read a file: its name (messages, and the token of kohya files) and an optional token override. */
export interface ReadEmbeddingOptions {
  fileName: string;
  /** use this token instead of the one the file carries (as diffusers' `token=`) */
  token?: string;
}

const KOHYA_KEY = 'emb_params';
const A1111_KEY = 'string_to_param.*';

const bad = (message: string) => new PipelineError('bad_embedding', message);

/** The file name without folders and extension: the token A1111 and kohya files are known by. */
export const tokenFromFileName = (fileName: string): string => {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
};

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

/** Refuses containers that are not safetensors, saying what they are. */
const refuseForeign = (bytes: Uint8Array, fileName: string) => {
  const convert = 'convert it to safetensors (e.g. with safetensors.torch.save_file) and load that';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]))
    throw bad(`${fileName} is a PyTorch (torch.save zip) file; pseudoword reads only safetensors embeddings: ${convert}`);
  if (startsWith(bytes, [0x80]) && bytes[1] !== undefined && bytes[1] <= 5)
    throw bad(`${fileName} is a pickled PyTorch file; pseudoword reads only safetensors embeddings: ${convert}`);
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47]) || startsWith(bytes, [0x52, 0x49, 0x46, 0x46]))
    throw bad(`${fileName} is an image (an A1111 PNG/WebP embedding?); pseudoword reads only safetensors embeddings: ${convert}`);
};

const parseStep = (s: string | undefined): number | undefined => {
  const n = s === undefined ? NaN : Number(s);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** The one tensor that holds the vectors, and the layout its key says. */
const pickTensor = (tensors: SafetensorsEntry[], fileName: string): { entry: SafetensorsEntry; layout: EmbeddingLayout } => {
  const names = tensors.map((t) => t.name);
  if (names.includes('clip_l') || names.includes('clip_g'))
    throw bad(`${fileName} is an SDXL embedding (clip_l/clip_g); SDXL embeddings need an SDXL model, which pseudoword does not support yet`);
  const kohya = tensors.find((t) => t.name === KOHYA_KEY);
  if (kohya) return { entry: kohya, layout: 'kohya' };
  // A flattened A1111/official dict may also carry string_to_token.* (an int id): only the params matter.
  const params = tensors.filter((t) => t.name.startsWith('string_to_param.'));
  if (params.length > 1) throw bad(`${fileName} holds ${params.length} string_to_param tensors (${params.map((t) => t.name).join(', ')}); expected one`);
  if (params.length === 1) return { entry: params[0], layout: 'a1111' };
  if (tensors.length === 1) return { entry: tensors[0], layout: 'diffusers' };
  if (tensors.length === 0) throw bad(`${fileName} holds no tensors`);
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
  throw bad(`${fileName} holds ${tensors.length} tensors (${shown}); an embedding file holds one (diffusers '<token>', kohya 'emb_params' or A1111 'string_to_param.*')`);
};

/**
 * Reads a textual-inversion embedding file (diffusers, kohya or A1111 layout, safetensors) into float32 vectors.
 * @example
 * const e = readEmbedding(bytes, { fileName: 'learned_embeds.safetensors' });
 * [e.token, e.count, e.dim, e.layout] // ['<cat-toy>', 1, 768, 'diffusers']
 */
export const readEmbedding = (bytes: Uint8Array, { fileName, token }: ReadEmbeddingOptions): ReadEmbedding => {
  refuseForeign(bytes, fileName);
  const file = readSafetensors(bytes, fileName);
  const { entry, layout } = pickTensor(file.tensors, fileName);
  if (entry.shape.length < 1 || entry.shape.length > 2)
    throw bad(`${fileName}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}]; an embedding is [vectors, width] or [width]`);
  const [count, dim] = entry.shape.length === 1 ? [1, entry.shape[0]] : entry.shape;
  if (count < 1 || dim < 1) throw bad(`${fileName}: tensor '${entry.name}' has shape [${entry.shape.join(', ')}], which holds no vector`);
  const vectors = file.float32(entry.name);
  const nonFinite = vectors.findIndex((v) => !Number.isFinite(v));
  if (nonFinite >= 0)
    throw bad(`${fileName}: vector ${Math.floor(nonFinite / dim)} of '${entry.name}' holds ${vectors[nonFinite]} at index ${nonFinite % dim}`);
  const named = layout === 'diffusers' ? entry.name : layout === 'a1111' ? file.metadata.name ?? tokenFromFileName(fileName) : tokenFromFileName(fileName);
  const chosen = token ?? named;
  if (chosen.trim() === '') throw bad(`${fileName}: the embedding's token is empty; pass a token`);
  const step = parseStep(file.metadata.step);
  return { token: chosen, vectors, count, dim, layout, ...(step !== undefined ? { step } : {}) };
};

/**
 * Writes an embedding in one tool's layout (safetensors, float32).
 * @example
 * writeEmbedding({ token: '<cat-toy>', vectors, count: 1, dim: 768 }) // diffusers learned_embeds.safetensors
 * writeEmbedding({ token: 'cat-toy', vectors, count: 1, dim: 768, step: 3000 }, 'a1111')
 */
export const writeEmbedding = (embedding: Embedding, layout: EmbeddingLayout = 'diffusers'): Uint8Array => {
  const { token, vectors, count, dim, step } = embedding;
  if (vectors.length !== count * dim) throw bad(`embedding '${token}' has ${vectors.length} values, not ${count} × ${dim}`);
  const tensor = { shape: [count, dim], data: vectors };
  if (layout === 'kohya') return writeSafetensors({ [KOHYA_KEY]: tensor });
  if (layout === 'a1111') return writeSafetensors({ [A1111_KEY]: tensor }, { name: token, ...(step !== undefined ? { step: String(step) } : {}) });
  return writeSafetensors({ [token]: tensor }, { format: 'pt' });
};
