/**
 * Textual-inversion embeddings on an SDXL model: a `{clip_l, clip_g}` file's token gets clip_l's vectors in
 * text_encoder (through `tokenizer`) and clip_g's in text_encoder_2 (through `tokenizer_2`), each encoder rewritten
 * by `injectVectors` as for SD1 — the way A1111 and ComfyUI load these files, and what diffusers' docs do by hand
 * (`load_textual_inversion(state_dict["clip_g"], text_encoder=text_encoder_2, tokenizer=tokenizer_2)`).
 */
import { PipelineError } from '../../common/errors.ts';
import type { Component, SdModel } from '../model-folder.ts';
import type { SessionFactory } from '../session.ts';
import type { Embedding } from './embedding-file.ts';
import { registerEmbedding } from './expand-prompt.ts';
import {
  copyTokenizer,
  expanding,
  feeding,
  prepareTextEncoder,
  vectorsTensor,
  type WithEmbeddingsOptions,
} from './prepared-text-encoder.ts';

type Loaded = Embedding & { fileName?: string };

const nameOf = (e: Loaded) =>
  e.fileName ? `embedding file ${e.fileName} (token '${e.token}')` : `embedding '${e.token}'`;
const widths = (e: Loaded) =>
  e.clipG ? `clip_l [${e.count}, ${e.dim}] and clip_g [${e.count}, ${e.clipG.dim}]` : `[${e.count}, ${e.dim}]`;

/**
 * Refuses SDXL pairs on a single-encoder model, naming both widths.
 * @example
 * refuseSdxlFiles([readEmbedding(bytes, { fileName: 'sdxl.safetensors' })], sd15) // throws bad_embedding
 */
export const refuseSdxlFiles = (loaded: readonly Loaded[], model: SdModel): void => {
  for (const e of loaded)
    if (e.clipG)
      throw new PipelineError(
        'bad_embedding',
        `${nameOf(e)} is an SDXL embedding (${widths(e)}), but this model has one text encoder of width ${model.info.hiddenSize}, which takes an SD1/SD2 embedding [n, ${model.info.hiddenSize}]`,
        { token: e.token, dim: e.dim, dimG: e.clipG.dim, modelDim: model.info.hiddenSize },
      );
};

/** Refuses files that are not SDXL pairs of this model's two widths, naming both. */
const checkWidths = (loaded: readonly Loaded[], [w1, w2]: readonly [number, number]) => {
  for (const e of loaded)
    if (!e.clipG || e.dim !== w1 || e.clipG.dim !== w2)
      throw new PipelineError(
        'bad_embedding',
        `${nameOf(e)} holds ${widths(e)}${e.clipG ? '' : ' (an SD1/SD2 embedding)'}, but this SDXL model takes clip_l [n, ${w1}] and clip_g [n, ${w2}]`,
        { token: e.token, dim: e.dim, dimG: e.clipG?.dim, modelDims: [w1, w2] },
      );
};

/**
 * An SDXL model that knows the embeddings' tokens in both tokenizers and both text encoders. Pass `encoder` and
 * `encoder2` to share prepared encoders (their owner releases them). The base model is never changed.
 * @example
 * const m = await withSdxlEmbeddings(xl, [readEmbedding(bytes, { fileName: 'cat.safetensors' })], ortSessionFactory);
 */
export const withSdxlEmbeddings = async (
  model: SdModel,
  loaded: readonly Loaded[],
  factory: SessionFactory,
  options: WithEmbeddingsOptions = {},
): Promise<SdModel> => {
  const sdxl = model.info.sdxl;
  if (!sdxl || !model.tokenizer2) throw new PipelineError('bad_model', `'${model.files.root}' is not an SDXL model`);
  checkWidths(loaded, sdxl.textWidths);
  const [one, two] = await Promise.all([
    options.encoder ?? prepareTextEncoder(model, factory, options, 'text_encoder'),
    options.encoder2 ?? prepareTextEncoder(model, factory, options, 'text_encoder_2'),
  ]);
  const side = (base: typeof model.tokenizer, encoder: typeof one, sets: Float32Array[]) => {
    if (base.vocabSize !== encoder.tableRows)
      throw new PipelineError(
        'bad_model',
        `a tokenizer has ${base.vocabSize} tokens but its text encoder's table has ${encoder.tableRows} rows; cannot add tokens`,
      );
    const tokenizer = copyTokenizer(base);
    const registered = loaded.map((e, i) =>
      registerEmbedding(tokenizer, { ...e, vectors: sets[i], dim: encoder.dim }, encoder),
    );
    return {
      tokenizer: expanding(tokenizer, registered),
      session: feeding(encoder.session, vectorsTensor(encoder, registered, sets)),
    };
  };
  const l = side(
    model.tokenizer,
    one,
    loaded.map((e) => e.vectors),
  );
  const g = side(
    model.tokenizer2,
    two,
    loaded.map((e) => e.clipG!.vectors),
  );
  const sessions: Partial<Record<Component, typeof l.session>> = { text_encoder: l.session, text_encoder_2: g.session };
  return {
    files: model.files,
    scheduler: model.scheduler,
    info: model.info,
    device: model.device,
    tokenizer: l.tokenizer,
    tokenizer2: g.tokenizer,
    session: (c: Component) => (sessions[c] ? Promise.resolve(sessions[c]) : model.session(c)),
    has: (c: Component) => model.has(c),
    release: async () => {
      if (!options.encoder) await one.session.release();
      if (!options.encoder2) await two.session.release();
    },
  };
};
