/**
 * P+ embedding files: one vector set per cross-attention layer of the UNet, as safetensors.
 *
 *     { "<layer name>": F32[n, dim], … }     one tensor per cross-attention layer, named as the layer
 *                                            (`down_blocks.0.attentions.0.transformer_blocks.0.attn2`, …)
 *     __metadata__ { "format": "pt", "pseudoword.method": "p-plus", "name": "<token>",
 *                    "pseudoword.layers": JSON list of the layer names in UNet order, "step"?: "N" }
 *
 * The metadata's layer list fixes the order (safetensors keys have none). A layer name is what
 * weights/methods/p-plus-unet.ts reads off the graph, so a file fits the UNets whose graphs name their
 * cross-attention layers the same way; loading checks the names against the model's and names a mismatch. Any
 * ordinary single-token file can be expanded to P+ (`expandToPPlus`: the same vectors for every layer), which
 * draws exactly what the ordinary file draws.
 */
import { PipelineError } from '../../common/errors.ts';
import type { Embedding } from './embedding-file.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';

export const pPlusMethod = 'p-plus';

/** The per-layer sets of a P+ embedding: `vectors` is [L·count·dim], layer-major in `layers` order. */
export interface PerLayerVectors {
  layers: string[];
  vectors: Float32Array;
}

const bad = (message: string) => new PipelineError('bad_embedding', message);

/** Is this safetensors file a P+ one? (Its metadata says so.) */
export const isPPlusFile = (bytes: Uint8Array, fileName: string): boolean =>
  bytes[8] === 0x7b && readSafetensors(bytes, fileName).metadata['pseudoword.method'] === pPlusMethod;

export const writePPlus = (e: Embedding & { perLayer: PerLayerVectors }): Uint8Array => {
  const { token, count, dim, perLayer, step } = e;
  const L = perLayer.layers.length;
  if (perLayer.vectors.length !== L * count * dim)
    throw bad(`P+ embedding '${token}' has ${perLayer.vectors.length} values, not ${L} layers × ${count} × ${dim}`);
  if (new Set(perLayer.layers).size !== L) throw bad(`P+ embedding '${token}' names a layer twice`);
  const n = count * dim;
  const tensors = Object.fromEntries(
    perLayer.layers.map((name, l) => [name, { shape: [count, dim], data: perLayer.vectors.slice(l * n, (l + 1) * n) }]),
  );
  return writeSafetensors(tensors, {
    format: 'pt',
    'pseudoword.method': pPlusMethod,
    name: token,
    'pseudoword.layers': JSON.stringify(perLayer.layers),
    ...(step !== undefined ? { step: String(step) } : {}),
  });
};

/** Reads a P+ file (see `isPPlusFile`); `vectors` holds the first layer's set, `perLayer` all of them. */
export const readPPlus = (
  bytes: Uint8Array,
  fileName: string,
  token?: string,
): Embedding & { perLayer: PerLayerVectors } => {
  const f = readSafetensors(bytes, fileName);
  let layers: unknown;
  try {
    layers = JSON.parse(f.metadata['pseudoword.layers'] ?? '');
  } catch {
    layers = undefined;
  }
  if (!Array.isArray(layers) || !layers.length || !layers.every((l) => typeof l === 'string'))
    throw bad(`${fileName}: a P+ file whose 'pseudoword.layers' metadata is not a list of layer names`);
  const names = layers as string[];
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  const missing = names.find((n) => !byName.has(n));
  if (missing !== undefined) throw bad(`${fileName}: the P+ layer '${missing}' has no tensor`);
  if (byName.size !== names.length)
    throw bad(`${fileName} holds ${byName.size} tensors but lists ${names.length} P+ layers`);
  const shape = byName.get(names[0])!.shape;
  if (shape.length !== 2 || names.some((n) => byName.get(n)!.shape.join() !== shape.join()))
    throw bad(`${fileName}: every P+ layer must hold the same [vectors, width] tensor`);
  const [count, dim] = shape;
  const vectors = new Float32Array(names.length * count * dim);
  names.forEach((n, l) => vectors.set(f.float32(n), l * count * dim));
  const bad_ = vectors.findIndex((v) => !Number.isFinite(v));
  if (bad_ >= 0) throw bad(`${fileName}: a P+ vector holds ${vectors[bad_]}`);
  const chosen = token ?? f.metadata.name;
  if (!chosen?.trim()) throw bad(`${fileName}: the P+ embedding names no token; pass a token`);
  const step = f.metadata.step !== undefined ? Number(f.metadata.step) : undefined;
  return {
    token: chosen,
    count,
    dim,
    vectors: vectors.slice(0, count * dim),
    perLayer: { layers: names, vectors },
    ...(step !== undefined && Number.isSafeInteger(step) && step >= 0 ? { step } : {}),
  };
};

/** An ordinary embedding as P+: the same vectors for every layer (it draws what the ordinary one draws). */
export const expandToPPlus = (e: Embedding, layers: readonly string[]): Embedding & { perLayer: PerLayerVectors } => {
  if (e.clipG) throw bad(`'${e.token}' is an SDXL embedding; P+ is for SD1/SD2 UNets`);
  const vectors = new Float32Array(layers.length * e.vectors.length);
  layers.forEach((_, l) => vectors.set(e.vectors, l * e.vectors.length));
  return { ...e, perLayer: { layers: [...layers], vectors } };
};
