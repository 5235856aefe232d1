/**
 * LoRA files, written and read in the two key layouts tools share:
 *
 * - kohya / A1111 (sd-scripts `networks/lora.py`, what A1111, ComfyUI and diffusers' `load_lora_weights` read):
 *   `lora_unet_<path with _>.lora_down.weight` [r, in] (= A), `.lora_up.weight` [out, r] (= B), `.alpha` (a scalar);
 *   the layer adds (alpha / r)·B·A.
 * - diffusers (PEFT, what `StableDiffusionPipeline.save_lora_weights` writes since diffusers 0.26 — the current
 *   layout; the older `…processor.to_q_lora.down.weight` names are not written):
 *   `unet.<path>.lora_A.weight` [r, in], `unet.<path>.lora_B.weight` [out, r], no alpha key. A reader without the
 *   adapter config takes alpha = r, so the writer folds alpha / r into B: the file means the same in every reader.
 *
 * Reading refuses what it cannot apply exactly, naming the key: keys of neither layout (text-encoder LoRAs
 * `lora_te_…`, convolution LoRAs, LyCORIS variants), keys naming no layer of this UNet, and shapes that do not fit.
 */
import { PipelineError } from '../../common/errors.ts';
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from '../embeddings/safetensors.ts';
import { diffusersStem, kohyaStem } from './lora-layers.ts';
import { loraOffsets, type LoraLayerSpec, type LoraWeights } from './lora-params.ts';

export type LoraLayout = 'kohya' | 'diffusers';
export const loraFileName = 'lora.safetensors';

/** The file's bytes in `layout`. */
export const writeLora = (w: LoraWeights, layout: LoraLayout): Uint8Array => {
  const { offsets } = loraOffsets(w.layers, w.shape.rank);
  const r = w.shape.rank;
  const scale = w.shape.alpha / r;
  const tensors: Record<string, SafetensorsTensor> = {};
  w.layers.forEach((l, i) => {
    const o = offsets[i];
    const a = w.params.slice(o.a, o.b);
    const b = w.params.slice(o.b, o.end);
    if (layout === 'kohya') {
      const s = kohyaStem(l.path);
      tensors[`${s}.lora_down.weight`] = { shape: [r, l.inFeatures], data: a };
      tensors[`${s}.lora_up.weight`] = { shape: [l.outFeatures, r], data: b };
      tensors[`${s}.alpha`] = { shape: [], data: Float32Array.of(w.shape.alpha) };
    } else {
      const s = diffusersStem(l.path);
      tensors[`${s}.lora_A.weight`] = { shape: [r, l.inFeatures], data: a };
      tensors[`${s}.lora_B.weight`] = { shape: [l.outFeatures, r], data: b.map((v) => v * scale) };
    }
  });
  const metadata: Record<string, string> =
    layout === 'kohya'
      ? { ss_network_module: 'networks.lora', ss_network_dim: String(r), ss_network_alpha: String(w.shape.alpha) }
      : { format: 'pt' };
  return writeSafetensors(tensors, metadata);
};

/** One layer of a loaded file: A [rank, in], B [out, rank], and the branch's scale alpha / rank. */
export interface LoadedLoraLayer {
  path: string;
  rank: number;
  a: Float32Array;
  b: Float32Array;
  scale: number;
}

const bad = (what: string, message: string, key?: string) =>
  new PipelineError('bad_embedding', `${what}: ${message}`, key ? { key } : undefined);

const suffixes = {
  kohya: { a: '.lora_down.weight', b: '.lora_up.weight', alpha: '.alpha' },
  diffusers: { a: '.lora_A.weight', b: '.lora_B.weight', alpha: undefined },
} as const;

/**
 * Reads a LoRA file against the layers of the UNet it will be merged into (`linearLayers(unet)`).
 * @throws PipelineError('bad_embedding') naming the key that is unknown, missing or of the wrong shape.
 * @example
 * const lora = readLora(bytes, linearLayers(unet), 'style.safetensors');
 */
export const readLora = (
  bytes: Uint8Array,
  layers: readonly LoraLayerSpec[],
  what = 'LoRA file',
): { layout: LoraLayout; layers: LoadedLoraLayer[] } => {
  const f = readSafetensors(bytes, what);
  const names = f.tensors.map((t) => t.name);
  if (!names.length) throw bad(what, 'holds no tensors');
  const layout: LoraLayout | undefined = names.every((n) => n.startsWith('lora_unet_'))
    ? 'kohya'
    : names.every((n) => n.startsWith('unet.'))
      ? 'diffusers'
      : undefined;
  if (!layout) {
    const odd = names.find((n) => !n.startsWith('lora_unet_')) ?? names[0];
    throw bad(
      what,
      `key '${odd}' is neither kohya/A1111 UNet layout (lora_unet_…) nor diffusers (unet.…); text-encoder LoRAs and mixed files are not supported`,
      odd,
    );
  }
  const stemOf = layout === 'kohya' ? kohyaStem : diffusersStem;
  const byStem = new Map(layers.map((l) => [stemOf(l.path), l]));
  const sfx = suffixes[layout];
  const groups = new Map<string, { a?: string; b?: string; alpha?: string }>();
  for (const n of names) {
    const part = n.endsWith(sfx.a)
      ? 'a'
      : n.endsWith(sfx.b)
        ? 'b'
        : sfx.alpha && n.endsWith(sfx.alpha)
          ? 'alpha'
          : undefined;
    if (!part)
      throw bad(
        what,
        `key '${n}' is not a ${layout} LoRA weight (${Object.values(sfx).filter(Boolean).join(', ')})`,
        n,
      );
    const stem = n.slice(0, n.length - (sfx[part] as string).length);
    if (!byStem.has(stem)) throw bad(what, `key '${n}' names no linear layer of this UNet`, n);
    const g = groups.get(stem) ?? {};
    g[part] = n;
    groups.set(stem, g);
  }
  const out: LoadedLoraLayer[] = [];
  for (const [stem, g] of groups) {
    const l = byStem.get(stem)!;
    if (!g.a || !g.b) throw bad(what, `'${stem}' has no ${g.a ? sfx.b : sfx.a}`, stem + (g.a ? sfx.b : sfx.a));
    const ta = f.tensors.find((t) => t.name === g.a)!;
    const tb = f.tensors.find((t) => t.name === g.b)!;
    const rank = ta.shape[0];
    if (ta.shape.length !== 2 || ta.shape[1] !== l.inFeatures || !(rank >= 1))
      throw bad(what, `key '${g.a}' has shape [${ta.shape}], the layer needs [rank, ${l.inFeatures}]`, g.a);
    if (tb.shape.length !== 2 || tb.shape[0] !== l.outFeatures || tb.shape[1] !== rank)
      throw bad(what, `key '${g.b}' has shape [${tb.shape}], the layer needs [${l.outFeatures}, ${rank}]`, g.b);
    let alpha = rank;
    if (g.alpha) {
      const v = f.float32(g.alpha);
      if (v.length !== 1 || !Number.isFinite(v[0]))
        throw bad(what, `key '${g.alpha}' is not one finite number`, g.alpha);
      alpha = v[0];
    }
    const a = f.float32(g.a);
    const b = f.float32(g.b);
    if (!a.every(Number.isFinite) || !b.every(Number.isFinite))
      throw bad(what, `'${stem}' holds non-finite weights`, stem);
    out.push({ path: l.path, rank, a, b, scale: alpha / rank });
  }
  return { layout, layers: out };
};

/** A training run's flat weights as loaded layers (for merging without a file in between). */
export const loadedLayers = (w: LoraWeights): LoadedLoraLayer[] => {
  const { offsets } = loraOffsets(w.layers, w.shape.rank);
  return w.layers.map((l, i) => ({
    path: l.path,
    rank: w.shape.rank,
    a: w.params.slice(offsets[i].a, offsets[i].b),
    b: w.params.slice(offsets[i].b, offsets[i].end),
    scale: w.shape.alpha / w.shape.rank,
  }));
};
