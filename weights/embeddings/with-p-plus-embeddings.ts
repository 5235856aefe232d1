/**
 * Generation with P+ embeddings (p-plus-file.ts): a model view whose UNet reads one conditioning per
 * cross-attention layer and whose text encoder gives it them. The UNet is rewritten once
 * (weights/methods/p-plus-unet.ts, 'sequence' packing): its `encoder_hidden_states` input holds every layer's
 * prompt encoding side by side, [B, L·S, D]. The text encoder runs once per distinct layer prompt — once per
 * distinct set of layer vectors — and its outputs are laid side by side in layer order. Everything between the
 * two (classifier-free guidance's batching, samplers) sees an ordinary model. Ordinary embeddings loaded beside a
 * P+ one are the same in every layer.
 */
import { PipelineError } from '../../common/errors.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { packLayers, splitCrossAttention } from '../methods/p-plus-unet.ts';
import type { Component, SdModel } from '../model-folder.ts';
import { decodeModel, encodeModel } from '../onnx/proto.ts';
import type { Session, SessionFactory } from '../session.ts';
import type { Embedding } from './embedding-file.ts';
import { registerEmbedding } from './expand-prompt.ts';
import { expandToPPlus } from './p-plus-file.ts';
import {
  copyTokenizer,
  expanding,
  inlineExternal,
  prepareTextEncoder,
  vectorsTensor,
  type PrepareOptions,
  type WithEmbeddingsOptions,
} from './prepared-text-encoder.ts';
import { vectorsInput } from './inject-vectors.ts';

/** Where a rewritten UNet with external data goes: beside the original, so relative paths resolve. */
export const pPlusUnetFile = 'unet/model.pseudoword-p-plus.onnx';

/** The UNet rewritten for P+, shareable across sets of embeddings (its owner releases it). */
export interface PPlusUnet {
  session: Session;
  layers: string[];
}

/** Rewrites and opens a model's UNet for P+ conditioning. */
export const preparePPlusUnet = async (
  model: SdModel,
  factory: SessionFactory,
  options: PrepareOptions = {},
): Promise<PPlusUnet> => {
  const bytes = await model.files.readBytes('unet/model.onnx');
  if (!bytes) throw new PipelineError('bad_model', `'${model.files.root}' has no unet/model.onnx`);
  const split = splitCrossAttention(decodeModel(bytes));
  const packed = packLayers(split, 'sequence');
  const external = packed.graph.initializers.some((t) => t.external);
  const source = !external
    ? encodeModel(packed)
    : options.writeModel
      ? await options.writeModel(pPlusUnetFile, encodeModel(packed))
      : encodeModel(inlineExternal(packed, model.files, 'unet'));
  return { session: await factory.create(source, { device: model.device }), layers: split.layers };
};

/** Lays the layers' [B, S, D] outputs side by side: [B, L·S, D]. */
const sideBySide = (parts: Tensor[]): Tensor => {
  const [B, S, D] = parts[0].dims;
  const L = parts.length;
  const data = new (parts[0].data.constructor as new (n: number) => Tensor['data'])(B * L * S * D);
  for (let b = 0; b < B; b++)
    parts.forEach((p, l) =>
      (data as Float32Array).set((p.data as Float32Array).subarray(b * S * D, (b + 1) * S * D), (b * L + l) * S * D),
    );
  return tensor(parts[0].dtype, [B, L * S, D], data as never);
};

export type WithPPlusOptions = WithEmbeddingsOptions & { unet?: Promise<PPlusUnet> };

/**
 * A model that draws P+ embeddings. The base model is never changed.
 * @throws PipelineError('bad_embedding') when a file's layers are not this UNet's.
 */
export const withPPlusEmbeddings = async (
  model: SdModel,
  loaded: ReadonlyArray<Embedding & { fileName?: string }>,
  factory: SessionFactory,
  options: WithPPlusOptions = {},
): Promise<SdModel> => {
  if (model.info.sdxl)
    throw new PipelineError('bad_embedding', 'P+ embeddings are for SD1/SD2 UNets; this model is SDXL');
  const unet = await (options.unet ?? preparePPlusUnet(model, factory, options));
  const encoder = await (options.encoder ?? prepareTextEncoder(model, factory, options));
  const perLayer = loaded.map((e) => {
    if (!e.perLayer) return expandToPPlus(e, unet.layers);
    const theirs = e.perLayer.layers;
    const differ = theirs.findIndex((l, i) => l !== unet.layers[i]);
    if (theirs.length !== unet.layers.length || differ >= 0)
      throw new PipelineError(
        'bad_embedding',
        `${e.fileName ?? e.token} is a P+ embedding for ${theirs.length} cross-attention layers, but this UNet has ${unet.layers.length}${differ >= 0 ? ` (the file's layer ${differ + 1} is '${theirs[differ]}', the UNet's is '${unet.layers[differ] ?? 'none'}')` : ''}`,
        { token: e.token, layers: theirs.length, modelLayers: unet.layers.length },
      );
    return e as Embedding & { perLayer: NonNullable<Embedding['perLayer']> };
  });
  const tokenizer = copyTokenizer(model.tokenizer);
  const registered = loaded.map((e) => registerEmbedding(tokenizer, e, encoder));
  const layerVectors = (l: number) =>
    vectorsTensor(
      encoder,
      registered,
      perLayer.map((e) => e.perLayer.vectors.subarray(l * e.count * e.dim, (l + 1) * e.count * e.dim)),
    );
  // One text-encoder run per distinct set of layer vectors: equal layers share their encoding.
  const feeds = unet.layers.map((_, l) => layerVectors(l));
  const key = (t: Tensor) => {
    const d = t.data as Uint8Array;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).join();
  };
  const distinct: Tensor[] = [];
  const which = feeds.map((t) => {
    const k = key(t);
    const i = distinct.findIndex((d) => key(d) === k);
    return i >= 0 ? i : distinct.push(t) - 1;
  });
  const textEncoder: Session = {
    inputs: encoder.session.inputs.filter((i) => i.name !== vectorsInput),
    outputs: encoder.session.outputs,
    run: async (f, fetch) => {
      const runs: Record<string, Tensor>[] = [];
      for (const v of distinct) runs.push(await encoder.session.run({ ...f, [vectorsInput]: v }, fetch));
      const out: Record<string, Tensor> = {};
      for (const name of Object.keys(runs[0]))
        out[name] = runs[0][name].dims.length === 3 ? sideBySide(which.map((i) => runs[i][name])) : runs[0][name];
      return out;
    },
    release: async () => {},
  };
  return {
    files: model.files,
    scheduler: model.scheduler,
    info: model.info,
    device: model.device,
    tokenizer: expanding(tokenizer, registered),
    session: (c: Component) =>
      c === 'text_encoder'
        ? Promise.resolve(textEncoder)
        : c === 'unet'
          ? Promise.resolve({ ...unet.session, release: async () => {} })
          : model.session(c),
    has: (c: Component) => model.has(c),
    release: async () => {
      if (!options.encoder) await encoder.session.release();
      if (!options.unet) await unet.session.release();
    },
  };
};
