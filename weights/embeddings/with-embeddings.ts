/**
 * Loads textual-inversion embeddings into an opened model without touching it: the returned model has its own
 * tokenizer (a copy that knows the new tokens and expands multi-vector ones in prompts) and a text encoder
 * rewritten by `injectVectors`, whose `pseudoword_vectors` input is fed the loaded vectors on every run. UNet,
 * VAE, scheduler and files are the base model's.
 */
import { PipelineError } from '../../common/errors.ts';
import type { Component, SdModel } from '../model-folder.ts';
import type { ModelFiles } from '../model-files.ts';
import { decodeModel, encodeModel, type Model } from '../onnx/proto.ts';
import { makeTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';
import type { Session, SessionFactory } from '../session.ts';
import { halfArray } from '../../common/numerics/half.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { createClipTokenizer, type ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { Embedding } from './embedding-file.ts';
import { expandPrompt, registerEmbedding, type RegisteredEmbedding } from './expand-prompt.ts';
import { injectVectors, vectorsInput } from './inject-vectors.ts';

const TEXT_ENCODER = 'text_encoder/model.onnx';
/** Where a rewritten text encoder with external data goes: beside the original, so relative paths resolve. */
export const injectedTextEncoderFile = 'text_encoder/model.pseudoword.onnx';
// Protobuf messages cannot exceed 2 GiB; stay clear of it when inlining external weights.
const INLINE_LIMIT = 1.9 * 2 ** 30;

/** A text encoder session that reads ids ≥ tableRows from its `pseudoword_vectors` input. Shareable. */
export interface PreparedTextEncoder {
  session: Session;
  tableRows: number;
  dim: number;
  vectorsType: 'float32' | 'float16';
}

/** Options of `prepareTextEncoder` / `withEmbeddings`. */
export interface PrepareOptions {
  /**
   * Writes a rewritten model beside the original (`rel` is inside the model folder) and returns the path to
   * open. Used when the text encoder keeps its weights in external data; without it they are inlined.
   */
  writeModel?(rel: string, bytes: Uint8Array): Promise<string>;
}

/** Copies external initializers into the model, so it can be opened from bytes anywhere. */
const inlineExternal = (m: Model, files: ModelFiles): Model => {
  const read = (location: string, offset: number, length: number) =>
    files.readRange(`text_encoder/${location}`, offset, length);
  const size = m.graph.initializers.reduce(
    (s, t) => s + (t.external ? Number(t.external.find((e) => e.key === 'length')?.value ?? 0) : t.bytes.byteLength),
    0,
  );
  if (size > INLINE_LIMIT)
    throw new PipelineError(
      'bad_model',
      `${files.root}/${TEXT_ENCODER} keeps ${(size / 2 ** 30).toFixed(1)} GiB in external data, too much to rewrite in memory; a writable model folder is needed`,
    );
  const initializers = m.graph.initializers.map((t) =>
    t.external ? makeTensorProto(t.name, readTensorProto(t, read)) : t,
  );
  return { ...m, graph: { ...m.graph, initializers } };
};

/**
 * Builds the injected text encoder of a model (it does not depend on the embeddings, so one serves them all).
 * @example
 * const encoder = await prepareTextEncoder(model, ortSessionFactory);
 */
export const prepareTextEncoder = async (
  model: SdModel,
  factory: SessionFactory,
  options: PrepareOptions = {},
): Promise<PreparedTextEncoder> => {
  const bytes = await model.files.readBytes(TEXT_ENCODER);
  if (!bytes) throw new PipelineError('bad_model', `'${model.files.root}' has no ${TEXT_ENCODER}`);
  const injected = injectVectors(decodeModel(bytes));
  const external = injected.model.graph.initializers.some((t) => t.external);
  let source: string | Uint8Array;
  if (!external) source = encodeModel(injected.model);
  else if (options.writeModel) {
    // A read-only folder cannot take the rewritten model; inlining (when small enough) still works.
    source = await options
      .writeModel(injectedTextEncoderFile, encodeModel(injected.model))
      .catch(() => encodeModel(inlineExternal(injected.model, model.files)));
  } else source = encodeModel(inlineExternal(injected.model, model.files));
  const session = await factory.create(source, { device: model.device });
  const vectors = session.inputs.find((i) => i.name === vectorsInput);
  return {
    session,
    tableRows: injected.tableRows,
    dim: injected.dim,
    vectorsType: vectors?.dtype === 'float16' ? 'float16' : 'float32',
  };
};

/** A fresh tokenizer equal to `base` (added tokens included), so adding tokens leaves `base` as it was. */
export const copyTokenizer = (base: ClipTokenizer): ClipTokenizer =>
  createClipTokenizer({
    vocab: base.vocab,
    merges: base.merges,
    config: {
      bosToken: base.tokenOf(base.bosId),
      eosToken: base.tokenOf(base.eosId),
      unkToken: base.tokenOf(base.unkId),
      padToken: base.padToken,
      modelMaxLength: base.modelMaxLength,
      addedTokens: base.addedTokens,
    },
  });

/** The tokenizer with prompts expanded first; everything else is the tokenizer's own. */
const expanding = (tok: ClipTokenizer, registered: readonly RegisteredEmbedding[]): ClipTokenizer =>
  Object.create(tok, {
    encode: { value: (text: string) => tok.encode(expandPrompt(text, registered)) },
    pieces: { value: (text: string) => tok.pieces(expandPrompt(text, registered)) },
    tokenize: {
      value: (text: string, o?: Parameters<ClipTokenizer['tokenize']>[1]) =>
        tok.tokenize(expandPrompt(text, registered), o),
    },
  });

/** The session with `pseudoword_vectors` fed on every run (and hidden from its inputs: callers never feed it). */
const feeding = (s: Session, vectors: Tensor): Session => ({
  inputs: s.inputs.filter((i) => i.name !== vectorsInput),
  outputs: s.outputs,
  run: (feeds, fetch) => s.run({ ...feeds, [vectorsInput]: vectors }, fetch),
  release: async () => {}, // the shared session is released with the model view (or by its owner), not per use
});

/**
 * A model that knows the embeddings' tokens: prompts naming them use their vectors. Pass `encoder` to reuse a
 * prepared text encoder across calls (its owner releases it); otherwise one is built and the returned model's
 * `release()` frees it. The base model is never changed.
 * @example
 * const m = await withEmbeddings(model, [readEmbedding(bytes, { fileName })], ortSessionFactory);
 * m.tokenizer.tokenize('a photo of <cat-toy>')
 */
export const withEmbeddings = async (
  model: SdModel,
  loaded: ReadonlyArray<Embedding & { fileName?: string }>,
  factory: SessionFactory,
  options: PrepareOptions & { encoder?: Promise<PreparedTextEncoder> } = {},
): Promise<SdModel> => {
  if (loaded.length === 0) return model;
  const encoder = await (options.encoder ?? prepareTextEncoder(model, factory, options));
  if (model.tokenizer.vocabSize !== encoder.tableRows)
    throw new PipelineError(
      'bad_model',
      `the tokenizer has ${model.tokenizer.vocabSize} tokens but the text encoder's table has ${encoder.tableRows} rows; cannot add tokens`,
    );
  const tokenizer = copyTokenizer(model.tokenizer);
  const registered = loaded.map((e) => registerEmbedding(tokenizer, e, encoder));
  // Rows are consecutive from 0 in load order (the copy's new ids start at tableRows).
  const rows = registered.reduce((n, r) => n + r.rows.length, 0);
  const data = new Float32Array(rows * encoder.dim);
  registered.forEach((r, i) => data.set(loaded[i].vectors, r.rows[0] * encoder.dim));
  const vectors =
    encoder.vectorsType === 'float16'
      ? tensor('float16', [rows, encoder.dim], halfArray(data))
      : tensor('float32', [rows, encoder.dim], data);
  const owned = !options.encoder;
  const textEncoder = feeding(encoder.session, vectors);
  return {
    files: model.files,
    scheduler: model.scheduler,
    info: model.info,
    device: model.device,
    tokenizer: expanding(tokenizer, registered),
    session: (c: Component) => (c === 'text_encoder' ? Promise.resolve(textEncoder) : model.session(c)),
    has: (c: Component) => model.has(c),
    // Only what this call opened; the base model's sessions belong to the base model.
    release: async () => (owned ? encoder.session.release() : undefined),
  };
};
