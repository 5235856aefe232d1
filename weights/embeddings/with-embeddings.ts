/**
 * Loads textual-inversion embeddings into an opened model without touching it: the returned model has its own
 * tokenizer (a copy that knows the new tokens and expands multi-vector ones in prompts) and a text encoder
 * rewritten by `injectVectors`, whose `pseudoword_vectors` input is fed the loaded vectors on every run. UNet,
 * VAE, scheduler and files are the base model's. SDXL models load `{clip_l, clip_g}` files into both encoders
 * (with-sdxl-embeddings.ts).
 */
import { PipelineError } from '../../common/errors.ts';
import type { Component, SdModel } from '../model-folder.ts';
import type { SessionFactory } from '../session.ts';
import type { Embedding } from './embedding-file.ts';
import { registerEmbedding } from './expand-prompt.ts';
import { copyTokenizer, expanding, feeding, prepareTextEncoder, vectorsTensor } from './prepared-text-encoder.ts';
import { refuseSdxlFiles, withSdxlEmbeddings } from './with-sdxl-embeddings.ts';
import { withPPlusEmbeddings, type WithPPlusOptions } from './with-p-plus-embeddings.ts';

export {
  copyTokenizer,
  injectedTextEncoder2File,
  injectedTextEncoderFile,
  prepareTextEncoder,
  type PrepareOptions,
  type PreparedTextEncoder,
  type TextEncoderComponent,
  type WithEmbeddingsOptions,
} from './prepared-text-encoder.ts';

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
  options: WithPPlusOptions = {},
): Promise<SdModel> => {
  if (loaded.length === 0) return model;
  // A P+ file conditions each cross-attention layer on its own: a rewritten UNet (with-p-plus-embeddings.ts).
  if (loaded.some((e) => e.perLayer)) return withPPlusEmbeddings(model, loaded, factory, options);
  if (model.info.sdxl) return withSdxlEmbeddings(model, loaded, factory, options);
  refuseSdxlFiles(loaded, model);
  const encoder = await (options.encoder ?? prepareTextEncoder(model, factory, options));
  if (model.tokenizer.vocabSize !== encoder.tableRows)
    throw new PipelineError(
      'bad_model',
      `the tokenizer has ${model.tokenizer.vocabSize} tokens but the text encoder's table has ${encoder.tableRows} rows; cannot add tokens`,
    );
  const tokenizer = copyTokenizer(model.tokenizer);
  const registered = loaded.map((e) => registerEmbedding(tokenizer, e, encoder));
  const vectors = vectorsTensor(
    encoder,
    registered,
    loaded.map((e) => e.vectors),
  );
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
