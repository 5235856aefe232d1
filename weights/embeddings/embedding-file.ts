/**
 * Textual-inversion embedding files in the layouts the reference tools write (ANCHORS.md §2), all as
 * safetensors:
 *
 *     diffusers  { "<token>": F32[n, dim] }        __metadata__ { "format": "pt" }
 *     kohya      { "emb_params": F32[n, dim] }     the token is the file name
 *     a1111      { "string_to_param.*": F32[n, dim] }  __metadata__ { "name": token, "step": "N" }
 *
 *     sdxl       { "clip_l": F32[n, width₁], "clip_g": F32[n, width₂] }   __metadata__ { "pseudoword.token": token }
 *
 * The SDXL pair's tensors carry no token: A1111 and ComfyUI read only the tensors and name the embedding after the
 * file. pseudoword writes the token it was trained with into the metadata, which those tools ignore, and reads it
 * back, so `train --token '<disc>'` then `generate --embeddings learned_embeds.safetensors` knows `<disc>`. A pair
 * without it (another tool's) is named after its file, as those tools name it. The key is pseudoword's own, so no
 * other tool's metadata renames a file.
 *
 * Reading tells the layout from the keys, the way diffusers' and A1111's loaders do; a bare [dim] tensor is one
 * vector. `torch.save` files (`.pt`/`.bin`: A1111's and the official repo's dicts, diffusers' one-key dict) are
 * read too, through a restricted unpickler. The SDXL pair is what kohya's sdxl_train_textual_inversion writes and
 * A1111 and ComfyUI load (ANCHORS.md §2): clip_l for SDXL's first text encoder, clip_g for its second. Legacy
 * pickles and PNG embeddings get clear refusals.
 */
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { TorchTensor, torchLoad } from './torch-load.ts';
import { PyObject } from './unpickle.ts';
import type { Embedding } from './embedding.ts';
import { isPPlusFile, readPPlus, writePPlus } from './p-plus-file.ts';

/** Which tool's key layout a file uses. */
export type EmbeddingLayout = 'diffusers' | 'kohya' | 'a1111';

/**
 * A learned token: `count` vectors of width `dim`, row-major in `vectors`. An SDXL embedding holds `count` vectors
 * for each text encoder: `vectors`/`dim` are clip_l's (text_encoder), `clipG` text_encoder_2's.
 */
export type { Embedding } from './embedding.ts';

/** An embedding as read from a file, with the layout it was in. */
export interface ReadEmbedding extends Embedding {
  layout: EmbeddingLayout | 'sdxl' | 'p-plus';
}

/** How to read a file: its name (messages, and the token of kohya files) and an optional token override. */
export interface ReadEmbeddingOptions {
  fileName: string;
  /** use this token instead of the one the file carries (as diffusers' `token=`) */
  token?: string;
}

const KOHYA_KEY = 'emb_params';
const SDXL_L = 'clip_l';
const SDXL_G = 'clip_g';
const A1111_KEY = 'string_to_param.*';
/** The metadata key an SDXL pair's token is kept under (other tools ignore it). */
export const SDXL_TOKEN_KEY = 'pseudoword.token';

const bad = (message: string) => new PipelineError('bad_embedding', message);

/** The file name without folders and extension: the token A1111 and kohya files are known by. */
export const tokenFromFileName = (fileName: string): string => {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
};

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);

/** The tensor an embedding file holds, found in either container, before checks. */
interface Found {
  key: string;
  shape: number[];
  vectors(): Float32Array;
  layout: EmbeddingLayout;
  /** the token the file names (diffusers key, A1111 name); undefined → the file name */
  token?: string;
  step?: number;
}

const parseStep = (s: unknown): number | undefined => {
  const n = typeof s === 'string' ? Number(s) : s;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** The key holding the vectors among a file's keys, and the layout it says (as diffusers' and A1111's loaders). */
const pickKey = (keys: string[], fileName: string): { key: string; layout: EmbeddingLayout } => {
  // Safetensors pairs are read before this; a torch.save'd pair is not (SDXL tools share safetensors).
  if (keys.includes(SDXL_L) || keys.includes(SDXL_G))
    throw bad(
      `${fileName} is an SDXL embedding (clip_l/clip_g) saved with torch.save; pseudoword reads SDXL pairs from safetensors: convert it (safetensors.torch.save_file) and load that`,
    );
  if (keys.includes(KOHYA_KEY)) return { key: KOHYA_KEY, layout: 'kohya' };
  // A flattened A1111/official dict may also carry string_to_token.* (an int id): only the params matter.
  const params = keys.filter((k) => k.startsWith('string_to_param.'));
  if (params.length > 1)
    throw bad(`${fileName} holds ${params.length} string_to_param tensors (${params.join(', ')}); expected one`);
  if (params.length === 1) return { key: params[0], layout: 'a1111' };
  if (keys.length === 1) return { key: keys[0], layout: 'diffusers' };
  if (keys.length === 0) throw bad(`${fileName} holds no tensors`);
  const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? ', …' : '');
  throw bad(
    `${fileName} holds ${keys.length} tensors (${shown}); an embedding file holds one (diffusers '<token>', kohya 'emb_params' or A1111 'string_to_param.*')`,
  );
};

const fromSafetensors = (bytes: Uint8Array, fileName: string): Found => {
  const file = readSafetensors(bytes, fileName);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const { key, layout } = pickKey([...byName.keys()], fileName);
  const token = layout === 'diffusers' ? key : layout === 'a1111' ? file.metadata.name : undefined;
  return {
    key,
    shape: byName.get(key)!.shape,
    vectors: () => file.float32(key),
    layout,
    token,
    step: parseStep(file.metadata.step),
  };
};

/** A torch.save file: a bare tensor, a one-key dict, or A1111's / the official repo's dict. */
const fromTorch = (bytes: Uint8Array, fileName: string): Found => {
  const data = torchLoad(bytes, fileName);
  const found = (key: string, t: unknown, layout: EmbeddingLayout, token?: string, step?: number): Found => {
    if (!(t instanceof TorchTensor) || !(t.values instanceof Float32Array))
      throw bad(`${fileName}: '${key}' is not a float tensor`);
    return { key, shape: t.shape, vectors: () => t.values as Float32Array, layout, token, step };
  };
  if (data instanceof TorchTensor) return found('tensor', data, 'diffusers');
  if (!(data instanceof Map)) throw bad(`${fileName} holds neither a tensor nor a dict of tensors`);
  if (data.has('string_to_param')) {
    // A1111 saves a dict; the official repo an nn.ParameterDict, whose tensors sit in its state's _parameters.
    let params = data.get('string_to_param');
    if (params instanceof PyObject && params.state instanceof Map) params = params.state.get('_parameters');
    if (!(params instanceof Map) || params.size !== 1)
      throw bad(`${fileName}: string_to_param does not hold exactly one tensor`);
    const [[name, t]] = [...params];
    const token = typeof data.get('name') === 'string' ? data.get('name') : undefined;
    return found(`string_to_param.${name}`, t, 'a1111', token, parseStep(data.get('step')));
  }
  const { key, layout } = pickKey([...data.keys()].map(String), fileName);
  return found(key, data.get(key), layout, layout === 'diffusers' ? key : undefined);
};

/** Which container the bytes are, refusing the ones pseudoword cannot read with what to do instead. */
const findTensor = (bytes: Uint8Array, fileName: string): Found => {
  // A safetensors header is JSON, so byte 8 is '{' (its length field may start with any byte, 0x80 included).
  if (bytes[8] === 0x7b) return fromSafetensors(bytes, fileName);
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return fromTorch(bytes, fileName);
  const convert = 'convert it to safetensors (e.g. with safetensors.torch.save_file) and load that';
  if (startsWith(bytes, [0x80]) && bytes[1] !== undefined && bytes[1] <= 5)
    throw bad(`${fileName} is a legacy (pre-1.6) PyTorch file, which pseudoword cannot read: ${convert}`);
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47]) || startsWith(bytes, [0x52, 0x49, 0x46, 0x46]))
    throw bad(`${fileName} is an image (an A1111 PNG/WebP embedding?), which pseudoword cannot read: ${convert}`);
  return fromSafetensors(bytes, fileName);
};

/** An SDXL pair's two tensors, when the file is a safetensors holding clip_l or clip_g; else undefined. */
const sdxlPair = (bytes: Uint8Array, fileName: string) => {
  if (bytes[8] !== 0x7b) return undefined;
  const file = readSafetensors(bytes, fileName);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  if (!byName.has(SDXL_L) && !byName.has(SDXL_G)) return undefined;
  for (const [have, lack] of [
    [SDXL_L, SDXL_G],
    [SDXL_G, SDXL_L],
  ])
    if (!byName.has(lack)) throw bad(`${fileName} holds ${have} but no ${lack}; an SDXL embedding holds both`);
  return { file, l: byName.get(SDXL_L)!, g: byName.get(SDXL_G)! };
};

/** A tensor's shape as [vectors, width] and its values, refused when it is no embedding (read only once shaped). */
const checked = (fileName: string, key: string, shape: number[], read: () => Float32Array) => {
  if (shape.length < 1 || shape.length > 2)
    throw bad(
      `${fileName}: tensor '${key}' has shape [${shape.join(', ')}]; an embedding is [vectors, width] or [width]`,
    );
  const [count, dim] = shape.length === 1 ? [1, shape[0]] : shape;
  if (count < 1 || dim < 1)
    throw bad(`${fileName}: tensor '${key}' has shape [${shape.join(', ')}], which holds no vector`);
  const vectors = read();
  const nonFinite = vectors.findIndex((v) => !Number.isFinite(v));
  if (nonFinite >= 0)
    throw bad(
      `${fileName}: vector ${Math.floor(nonFinite / dim)} of '${key}' holds ${vectors[nonFinite]} at index ${nonFinite % dim}`,
    );
  return { count, dim, vectors };
};

/**
 * The token a file's metadata names, when it is one a prompt could use: a well-formed string of 1 to
 * `limits.embeddingTokenChars` UTF-16 units without whitespace (as a train request's token), control characters
 * or lone surrogates. Anything else (a hostile or foreign header) is no token: undefined.
 */
const metadataToken = (metadata: Record<string, string>, key: string): string | undefined => {
  if (!Object.hasOwn(metadata, key)) return undefined;
  const t: unknown = metadata[key];
  if (typeof t !== 'string' || t.length < 1 || t.length > limits.embeddingTokenChars) return undefined;
  // \p{Cs}: a lone surrogate, which JSON's \ud800 escapes can make.
  return /[\s\p{Cc}\p{Cs}]/u.test(t) ? undefined : t;
};

/**
 * `{clip_l, clip_g}`: one token with both encoders' vectors. The token is the caller's override, else the one
 * pseudoword wrote into the metadata, else the file name's (as A1111 and ComfyUI name every pair).
 */
const readSdxlPair = (
  p: NonNullable<ReturnType<typeof sdxlPair>>,
  fileName: string,
  token: string | undefined,
): ReadEmbedding => {
  const l = checked(fileName, SDXL_L, p.l.shape, () => p.file.float32(SDXL_L));
  const g = checked(fileName, SDXL_G, p.g.shape, () => p.file.float32(SDXL_G));
  if (l.count !== g.count)
    throw bad(
      `${fileName}: clip_l holds ${l.count} vectors but clip_g ${g.count}; an SDXL embedding has as many of each`,
    );
  const chosen = token ?? metadataToken(p.file.metadata, SDXL_TOKEN_KEY) ?? tokenFromFileName(fileName);
  if (chosen.trim() === '') throw bad(`${fileName}: the embedding's token is empty; pass a token`);
  const step = parseStep(p.file.metadata.step);
  return {
    token: chosen,
    vectors: l.vectors,
    count: l.count,
    dim: l.dim,
    clipG: { vectors: g.vectors, dim: g.dim },
    layout: 'sdxl',
    ...(step !== undefined ? { step } : {}),
  };
};

/**
 * Reads a textual-inversion embedding file — diffusers, kohya or A1111 layout, as safetensors or as a torch.save
 * `.pt`/`.bin` — into float32 vectors.
 * @example
 * const e = readEmbedding(bytes, { fileName: 'learned_embeds.safetensors' });
 * [e.token, e.count, e.dim, e.layout] // ['<cat-toy>', 1, 768, 'diffusers']
 */
export const readEmbedding = (bytes: Uint8Array, { fileName, token }: ReadEmbeddingOptions): ReadEmbedding => {
  if (isPPlusFile(bytes, fileName)) return { ...readPPlus(bytes, fileName, token), layout: 'p-plus' };
  const pair = sdxlPair(bytes, fileName);
  if (pair) return readSdxlPair(pair, fileName, token);
  const f = findTensor(bytes, fileName);
  const { count, dim, vectors } = checked(fileName, f.key, f.shape, f.vectors);
  const chosen = token ?? f.token ?? tokenFromFileName(fileName);
  if (chosen.trim() === '') throw bad(`${fileName}: the embedding's token is empty; pass a token`);
  return { token: chosen, vectors, count, dim, layout: f.layout, ...(f.step !== undefined ? { step: f.step } : {}) };
};

/**
 * Writes an embedding in one tool's layout (safetensors, float32).
 * @example
 * writeEmbedding({ token: '<cat-toy>', vectors, count: 1, dim: 768 }) // diffusers learned_embeds.safetensors
 * writeEmbedding({ token: 'cat-toy', vectors, count: 1, dim: 768, step: 3000 }, 'a1111')
 * writeEmbedding({ token: 'cat-toy', vectors, count: 1, dim: 768, clipG: { vectors: g, dim: 1280 } }) // {clip_l, clip_g}
 */
export const writeEmbedding = (embedding: Embedding, layout: EmbeddingLayout = 'diffusers'): Uint8Array => {
  const { token, vectors, count, dim, step, clipG, perLayer } = embedding;
  // A P+ embedding has one layout, its own (p-plus-file.ts).
  if (perLayer) return writePPlus({ ...embedding, perLayer });
  if (vectors.length !== count * dim)
    throw bad(`embedding '${token}' has ${vectors.length} values, not ${count} × ${dim}`);
  // An SDXL embedding is always written as the pair every SDXL tool reads; they name it after the file, pseudoword
  // after the token kept in the metadata.
  if (clipG) {
    if (clipG.vectors.length !== count * clipG.dim)
      throw bad(`embedding '${token}' has ${clipG.vectors.length} clip_g values, not ${count} × ${clipG.dim}`);
    return writeSafetensors(
      {
        [SDXL_L]: { shape: [count, dim], data: vectors },
        [SDXL_G]: { shape: [count, clipG.dim], data: clipG.vectors },
      },
      { [SDXL_TOKEN_KEY]: token, ...(step !== undefined ? { step: String(step) } : {}) },
    );
  }
  const tensor = { shape: [count, dim], data: vectors };
  if (layout === 'kohya') return writeSafetensors({ [KOHYA_KEY]: tensor });
  if (layout === 'a1111')
    return writeSafetensors(
      { [A1111_KEY]: tensor },
      { name: token, ...(step !== undefined ? { step: String(step) } : {}) },
    );
  return writeSafetensors({ [token]: tensor }, { format: 'pt' });
};
