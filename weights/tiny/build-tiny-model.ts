/**
 * The embedded default model `tiny`: a complete Hugging Face Optimum-layout Stable Diffusion folder (SD1.x
 * component structure, scaled down), built by the project's own code with seeded weights, so every command works
 * on a machine that cannot download a model. 64 px images, 4×8×8 latents, text width 64.
 */
import { trainBpe } from '../tokenizer/train-bpe.ts';
import { writeTokenizerFiles } from '../tokenizer/write-tokenizer-files.ts';
import { collectExternal, type ExternalData } from './params.ts';
import { buildUnet } from './unet.ts';
import type { BuiltModel } from './built-model.ts';
import { tinyUnetConfig, unetConfigJson, type UnetConfig } from './unet-config.ts';
import { buildTextEncoder, tinyTextEncoderConfig, type TextEncoderConfig } from './text-encoder.ts';
import { buildVaeDecoder, buildVaeEncoder, tinyVaeConfig, vaeConfigJson, vaeScale, type VaeConfig } from './vae.ts';
import { jsonBytes, modelIndexJson, schedulerConfigJson, textEncoderConfigJson } from './folder-json.ts';
import { tinyCorpus } from './vocabulary.ts';

/**
 * Changes whenever the bytes `buildTinyModel({ seed: 0 })` writes change (the cache folder is named after it);
 * `build-tiny-model.test.ts` pins a digest of the build so a change cannot slip by without a bump.
 */
export const tinyModelVersion = '1';

export interface TinyModelOptions {
  seed?: number;
  /** 17 (LayerNormalization) or 14 (LayerNorm decomposed, as torch exports it there); 15 and 16 also work. */
  opset?: number;
  /** Extra tokenizer corpus lines (a world's words, say), learned after the default corpus. */
  words?: readonly string[];
  /** Component sizes other than the defaults (the trained model's, say); absent = the `tiny*Config`s. */
  unet?: UnetConfig;
  vae?: VaeConfig;
  text?: Partial<Omit<TextEncoderConfig, 'vocabSize'>>;
}

/** Enough merges for every corpus word to become one token (the learner stops early when none are left). */
const MERGE_BUDGET = 1024;
const RESOLUTION = 64;

/**
 * latent→RGB preview factors (rows: latent channels, columns R, G, B): the first three channels shown as colours,
 * as `latentToRgb` does for 'tiny'. Not fitted, and no fit exists: a least-squares fit from latents to the
 * 8×8-pooled decodes of this random decoder explains about 1% of their variance, so any 4×3 matrix is as good as
 * another until the model is trained. `previewFactorsFitted: false` says so.
 */
const PREVIEW_FACTORS = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
  [0, 0, 0],
];

const withExternal = (files: Record<string, Uint8Array>, dir: string, m: BuiltModel) => {
  files[`${dir}/model.onnx`] = m.model;
  const ext: ExternalData | undefined = m.external;
  if (ext) files[`${dir}/${ext.location}`] = collectExternal(ext);
};

/**
 * Builds the whole `tiny` folder as `{ relative path: bytes }`; the caller writes it. Deterministic: the same
 * options give byte-identical files on every runtime.
 *
 * @example
 * const files = buildTinyModel({ seed: 0 });
 * Object.keys(files); // model_index.json, scheduler/…, tokenizer/…, text_encoder/model.onnx, unet/model.onnx(_data), …
 */
export const buildTinyModel = (o: TinyModelOptions = {}): Record<string, Uint8Array> => {
  const { seed = 0, opset = 17, unet = tinyUnetConfig, vae = tinyVaeConfig } = o;
  const enc = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  files['model_index.json'] = jsonBytes(modelIndexJson());
  files['scheduler/scheduler_config.json'] = jsonBytes(schedulerConfigJson());

  const bpe = trainBpe([...tinyCorpus(), ...(o.words ?? [])], { merges: MERGE_BUDGET });
  for (const [name, text] of Object.entries(writeTokenizerFiles(bpe))) files[`tokenizer/${name}`] = enc.encode(text);

  const textConfig = { ...tinyTextEncoderConfig(Object.keys(bpe.vocab).length), ...o.text };
  withExternal(files, 'text_encoder', buildTextEncoder(textConfig, { seed, opset }));
  files['text_encoder/config.json'] = jsonBytes(
    textEncoderConfigJson(textConfig, bpe.vocab['<|startoftext|>'], bpe.vocab['<|endoftext|>']),
  );

  const latentSize = RESOLUTION / vaeScale(vae);
  withExternal(files, 'unet', buildUnet(unet, { seed, opset }));
  files['unet/config.json'] = jsonBytes(unetConfigJson(unet, latentSize));

  withExternal(files, 'vae_encoder', buildVaeEncoder(vae, { seed, opset }));
  withExternal(files, 'vae_decoder', buildVaeDecoder(vae, { seed, opset }));
  files['vae_encoder/config.json'] = jsonBytes(vaeConfigJson(vae, RESOLUTION));
  files['vae_decoder/config.json'] = jsonBytes(vaeConfigJson(vae, RESOLUTION));

  files['pseudoword.json'] = jsonBytes({
    family: 'tiny',
    resolution: RESOLUTION,
    latentChannels: unet.inChannels,
    vaeScale: vaeScale(vae),
    scalingFactor: vae.scalingFactor,
    previewFactors: PREVIEW_FACTORS,
    previewBias: [0, 0, 0],
    previewFactorsFitted: false,
    builder: { name: 'pseudoword weights/tiny', version: tinyModelVersion, seed, opset },
  });
  return files;
};
