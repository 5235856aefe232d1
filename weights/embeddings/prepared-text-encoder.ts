/**
 * The parts of loading embeddings that do not depend on the model's family: a text encoder rewritten by
 * `injectVectors` (built once, shared by every set of embeddings), a tokenizer copy that learns new tokens and
 * expands multi-vector ones, and the session view that feeds the vectors on every run.
 */
import { PipelineError } from '../../common/errors.ts';
import type { SdModel } from '../model-folder.ts';
import type { ModelFiles } from '../model-files.ts';
import { decodeModel, encodeModel, type Model } from '../onnx/proto.ts';
import { makeTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';
import type { Session, SessionFactory } from '../session.ts';
import { halfArray } from '../../common/numerics/half.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { createClipTokenizer, type ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { expandPrompt, type RegisteredEmbedding } from './expand-prompt.ts';
import { injectVectors, vectorsInput } from './inject-vectors.ts';

/** Where a rewritten text encoder with external data goes: beside the original, so relative paths resolve. */
export const injectedTextEncoderFile = 'text_encoder/model.pseudoword.onnx';
/** The same for SDXL's second text encoder. */
export const injectedTextEncoder2File = 'text_encoder_2/model.pseudoword.onnx';

/** A text encoder's folder: SDXL has two. */
export type TextEncoderComponent = 'text_encoder' | 'text_encoder_2';
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

/** Options of `withEmbeddings`: prepared encoders to share (`encoder2` for SDXL's second), else built per call. */
export type WithEmbeddingsOptions = PrepareOptions & {
  encoder?: Promise<PreparedTextEncoder>;
  encoder2?: Promise<PreparedTextEncoder>;
};

/** Copies external initializers into the model, so it can be opened from bytes anywhere. */
export const inlineExternal = (m: Model, files: ModelFiles, component: string): Model => {
  const read = (location: string, offset: number, length: number) =>
    files.readRange(`${component}/${location}`, offset, length);
  const size = m.graph.initializers.reduce(
    (s, t) => s + (t.external ? Number(t.external.find((e) => e.key === 'length')?.value ?? 0) : t.bytes.byteLength),
    0,
  );
  if (size > INLINE_LIMIT)
    throw new PipelineError(
      'bad_model',
      `${files.root}/${component}/model.onnx keeps ${(size / 2 ** 30).toFixed(1)} GiB in external data, too much to rewrite in memory; a writable model folder is needed`,
    );
  const initializers = m.graph.initializers.map((t) =>
    t.external ? makeTensorProto(t.name, readTensorProto(t, read)) : t,
  );
  return { ...m, graph: { ...m.graph, initializers } };
};

/**
 * Builds the injected text encoder of a model (it does not depend on the embeddings, so one serves them all);
 * `component` picks SDXL's second encoder.
 * @example
 * const encoder = await prepareTextEncoder(model, ortSessionFactory);
 */
export const prepareTextEncoder = async (
  model: SdModel,
  factory: SessionFactory,
  options: PrepareOptions = {},
  component: TextEncoderComponent = 'text_encoder',
): Promise<PreparedTextEncoder> => {
  const file = `${component}/model.onnx`;
  const bytes = await model.files.readBytes(file);
  if (!bytes) throw new PipelineError('bad_model', `'${model.files.root}' has no ${file}`);
  const injected = injectVectors(decodeModel(bytes));
  const external = injected.model.graph.initializers.some((t) => t.external);
  let source: string | Uint8Array;
  if (!external) source = encodeModel(injected.model);
  else if (options.writeModel) {
    // A read-only folder cannot take the rewritten model; inlining (when small enough) still works.
    const rel = component === 'text_encoder' ? injectedTextEncoderFile : injectedTextEncoder2File;
    source = await options
      .writeModel(rel, encodeModel(injected.model))
      .catch(() => encodeModel(inlineExternal(injected.model, model.files, component)));
  } else source = encodeModel(inlineExternal(injected.model, model.files, component));
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
export const expanding = (tok: ClipTokenizer, registered: readonly RegisteredEmbedding[]): ClipTokenizer =>
  Object.create(tok, {
    encode: { value: (text: string) => tok.encode(expandPrompt(text, registered)) },
    pieces: { value: (text: string) => tok.pieces(expandPrompt(text, registered)) },
    tokenize: {
      value: (text: string, o?: Parameters<ClipTokenizer['tokenize']>[1]) =>
        tok.tokenize(expandPrompt(text, registered), o),
    },
  });

/** The session with `pseudoword_vectors` fed on every run (and hidden from its inputs: callers never feed it). */
export const feeding = (s: Session, vectors: Tensor): Session => ({
  inputs: s.inputs.filter((i) => i.name !== vectorsInput),
  outputs: s.outputs,
  run: (feeds, fetch) => s.run({ ...feeds, [vectorsInput]: vectors }, fetch),
  release: async () => {}, // the shared session is released with the model view (or by its owner), not per use
});

/** The `pseudoword_vectors` feed: rows consecutive from 0 in load order (the copy's new ids start at tableRows). */
export const vectorsTensor = (
  encoder: PreparedTextEncoder,
  registered: readonly RegisteredEmbedding[],
  sets: readonly Float32Array[],
): Tensor => {
  const rows = registered.reduce((n, r) => n + r.rows.length, 0);
  const data = new Float32Array(rows * encoder.dim);
  registered.forEach((r, i) => data.set(sets[i], r.rows[0] * encoder.dim));
  return encoder.vectorsType === 'float16'
    ? tensor('float16', [rows, encoder.dim], halfArray(data))
    : tensor('float32', [rows, encoder.dim], data);
};
