/**
 * The embedded SDXL-structured model `tiny-xl`: a complete Optimum-layout SDXL folder built by the project's own
 * code with seeded random weights (untrained: it draws noise-like images, but every SDXL path — two tokenizers and
 * text encoders of different widths and depths, the pooled projection, micro-conditioning, the UNet's added
 * text/time embedding, linear transformer projections — runs on a machine that cannot download SDXL).
 * 64 px images, 4×8×8 latents, text widths 32 + 64, pooled width 48.
 */
import { trainBpe } from '../tokenizer/train-bpe.ts';
import { writeTokenizerFiles } from '../tokenizer/write-tokenizer-files.ts';
import { collectExternal } from './params.ts';
import type { BuiltModel } from './built-model.ts';
import { buildUnet } from './unet.ts';
import { unetConfigJson, type UnetConfig } from './unet-config.ts';
import { buildTextEncoder, type TextEncoderConfig } from './text-encoder.ts';
import { buildVaeDecoder, buildVaeEncoder, tinyVaeConfig, vaeConfigJson, vaeScale } from './vae.ts';
import { jsonBytes } from './folder-json.ts';
import {
  sdxlModelIndexJson,
  sdxlPooling,
  sdxlSchedulerConfigJson,
  sdxlTextEncoderConfigJson,
} from './sdxl-folder-json.ts';
import { tinyCorpus } from './vocabulary.ts';

/** Changes whenever the bytes `buildTinyXlModel({ seed: 0 })` writes change (the cache folder is named after it). */
export const tinyXlModelVersion = '1';

const MERGE_BUDGET = 1024;
const RESOLUTION = 64;

/** Encoder 1 (CLIP-L's role): width 32, 2 layers, quick_gelu, no projection. */
export const tinyXlTextEncoder1 = (vocabSize: number): TextEncoderConfig => ({
  vocabSize,
  hiddenSize: 32,
  layers: 2,
  heads: 2,
  intermediateSize: 128,
  maxPositions: 77,
  eps: 1e-5,
  hiddenAct: 'quick_gelu',
  hiddenStates: true,
  pooling: sdxlPooling(),
});

/** Encoder 2 (OpenCLIP bigG's role): width 64, 3 layers, exact gelu, projection to 48. */
export const tinyXlTextEncoder2 = (vocabSize: number): TextEncoderConfig => ({
  vocabSize,
  hiddenSize: 64,
  layers: 3,
  heads: 4,
  intermediateSize: 256,
  maxPositions: 77,
  eps: 1e-5,
  hiddenAct: 'gelu',
  projectionDim: 48,
  hiddenStates: true,
  pooling: sdxlPooling(),
});

/**
 * SDXL's UNet shape in miniature: no attention at the first level (SDXL's DownBlock2D), linear projections in the
 * transformers, context width 32 + 64, and the text_time added embedding (pooled width 48, time width 8).
 */
export const tinyXlUnetConfig: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [16, 32],
  layersPerBlock: 1,
  crossAttention: [false, true],
  heads: [2, 4],
  crossAttentionDim: 96,
  normGroups: 8,
  normEps: 1e-5,
  useLinearProjection: true,
  transformerLayers: 1,
  addition: { textEmbedsDim: 48, timeEmbedDim: 8 },
};

const put = (files: Record<string, Uint8Array>, dir: string, m: BuiltModel) => {
  files[`${dir}/model.onnx`] = m.model;
  if (m.external) files[`${dir}/${m.external.location}`] = collectExternal(m.external);
};

/**
 * Builds the whole `tiny-xl` folder as `{ relative path: bytes }`; the caller writes it. Deterministic.
 *
 * @example
 * const files = buildTinyXlModel({ seed: 0 });
 * Object.keys(files); // model_index.json, text_encoder_2/model.onnx, tokenizer_2/…, unet/model.onnx, …
 */
export const buildTinyXlModel = (o: { seed?: number } = {}): Record<string, Uint8Array> => {
  const seed = o.seed ?? 0;
  const enc = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  files['model_index.json'] = jsonBytes(sdxlModelIndexJson(true));
  files['scheduler/scheduler_config.json'] = jsonBytes(sdxlSchedulerConfigJson());

  // Both tokenizers share the BPE, as SDXL's do; tokenizer_2 pads with '!' (id 0), as SDXL's tokenizer_2.
  const bpe = trainBpe(tinyCorpus(), { merges: MERGE_BUDGET });
  for (const [name, text] of Object.entries(writeTokenizerFiles(bpe))) files[`tokenizer/${name}`] = enc.encode(text);
  for (const [name, text] of Object.entries(writeTokenizerFiles({ ...bpe, padToken: '!' })))
    files[`tokenizer_2/${name}`] = enc.encode(text);

  const vocabSize = Object.keys(bpe.vocab).length;
  const text1 = tinyXlTextEncoder1(vocabSize);
  const text2 = tinyXlTextEncoder2(vocabSize);
  put(files, 'text_encoder', buildTextEncoder(text1, { seed, opset: 17 }));
  put(files, 'text_encoder_2', buildTextEncoder(text2, { seed: seed + 1, opset: 17 }));
  files['text_encoder/config.json'] = jsonBytes(sdxlTextEncoderConfigJson(text1, false));
  files['text_encoder_2/config.json'] = jsonBytes(sdxlTextEncoderConfigJson(text2, true));

  const vae = tinyVaeConfig;
  const latentSize = RESOLUTION / vaeScale(vae);
  put(files, 'unet', buildUnet(tinyXlUnetConfig, { seed, opset: 17 }));
  files['unet/config.json'] = jsonBytes(unetConfigJson(tinyXlUnetConfig, latentSize));
  put(files, 'vae_encoder', buildVaeEncoder(vae, { seed, opset: 17 }));
  put(files, 'vae_decoder', buildVaeDecoder(vae, { seed, opset: 17 }));
  files['vae_encoder/config.json'] = jsonBytes(vaeConfigJson(vae, RESOLUTION));
  files['vae_decoder/config.json'] = jsonBytes(vaeConfigJson(vae, RESOLUTION));

  // No scalingFactor here: the pipeline reads it from vae_decoder/config.json, as it must for a real SDXL folder.
  files['pseudoword.json'] = jsonBytes({
    family: 'sdxl',
    resolution: RESOLUTION,
    previewFactors: [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [0, 0, 0],
    ],
    previewBias: [0, 0, 0],
    previewFactorsFitted: false,
    trained: false,
    builder: { name: 'pseudoword weights/tiny (tiny-xl)', version: tinyXlModelVersion, seed, opset: 17 },
  });
  return files;
};
