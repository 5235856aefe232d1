/**
 * Reading an SDXL folder's shape from its configs, checked against its graphs. Facts relied on:
 * - diffusers' StableDiffusionXLPipeline.encode_prompt: the context is `hidden_states[-2]` of each text encoder
 *   (the penultimate layer's output, before the final LayerNorm), concatenated on the last axis; the pooled
 *   prompt is text_encoder_2's first output, the projected `text_embeds`.
 * - Optimum's ONNX configs: CLIPTextModel exports `last_hidden_state`, `pooler_output`; CLIPTextModelWithProjection
 *   `text_embeds`, `last_hidden_state`; with `output_hidden_states` both add `hidden_states.0` … `hidden_states.N`
 *   (N = num_hidden_layers; index 0 is the embeddings), so hidden_states[-2] is `hidden_states.{N−1}`. The UNet of
 *   an `addition_embed_type: "text_time"` config takes `text_embeds` and `time_ids` as well.
 * - diffusers' `_get_add_time_ids`: the UNet's `add_embedding.linear_1` reads
 *   `addition_time_embed_dim × 6 + text_encoder_2.projection_dim` values (config field
 *   `projection_class_embeddings_input_dim`); a folder where they disagree is refused, as diffusers refuses it.
 * - `force_zeros_for_empty_prompt` (model_index.json; StableDiffusionXLPipeline's default is true).
 */
import { PipelineError } from '../common/errors.ts';
import type { SdxlInfo } from './model-info.ts';
import type { ModelFiles } from './model-files.ts';
import type { Dim, Graph } from './onnx/proto.ts';
import { loadTokenizer } from './tokenizer/load-tokenizer.ts';

/** A graph input or output as far as this reader needs it. */
export interface NamedIO {
  readonly name: string;
  readonly shape?: readonly Dim[];
}

/** The parsed JSON files (undefined where absent) and the graphs' interfaces of an SDXL folder. */
export interface SdxlSources {
  modelIndex?: Record<string, unknown>;
  textEncoderConfig?: Record<string, unknown>;
  textEncoder2Config?: Record<string, unknown>;
  unetConfig?: Record<string, unknown>;
  textEncoderOutputs: readonly NamedIO[];
  textEncoder2Outputs: readonly NamedIO[];
  unetInputs: readonly NamedIO[];
}

const bad = (message: string) => new PipelineError('bad_model', message);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);
const lastDim = (io: NamedIO | undefined) => int(io?.shape?.[io.shape.length - 1]);

/** N from the `hidden_states.0 … hidden_states.N` outputs, when the graph has them. */
const layersFromOutputs = (outputs: readonly NamedIO[]): number | undefined => {
  const k = outputs.map((o) => /^hidden_states\.(\d+)$/.exec(o.name)?.[1]).filter((x) => x !== undefined);
  return k.length ? Math.max(...k.map(Number)) : undefined;
};

/** One encoder's width, depth and penultimate output, from its config (or, failing that, its graph). */
const encoderShape = (dir: string, config: Record<string, unknown> | undefined, outputs: readonly NamedIO[]) => {
  const layers = int(config?.num_hidden_layers) ?? layersFromOutputs(outputs);
  const width = int(config?.hidden_size) ?? lastDim(outputs.find((o) => o.name === 'last_hidden_state'));
  if (layers === undefined || width === undefined)
    throw bad(`${dir}/config.json gives no num_hidden_layers/hidden_size, and the graph's outputs do not say them`);
  const penultimate = `hidden_states.${layers - 1}`;
  if (layers < 2 || !outputs.some((o) => o.name === penultimate))
    throw bad(
      `${dir}/model.onnx has no output '${penultimate}' (the penultimate hidden state of its ${layers} layers, which SDXL conditions on); it has ${outputs.map((o) => o.name).join(', ')} — export it with output_hidden_states, as Optimum does for SDXL`,
    );
  return { layers, width, penultimate };
};

/** Whether a folder's UNet takes SDXL's added conditioning. */
export const takesAddedConditioning = (unetInputs: readonly NamedIO[]): boolean =>
  unetInputs.some((i) => i.name === 'text_embeds') && unetInputs.some((i) => i.name === 'time_ids');

/**
 * Reads an SDXL folder's `SdxlInfo`, refusing folders whose parts disagree with a `bad_model` naming the numbers.
 * @example
 * const info = readSdxlInfo({ modelIndex, textEncoderConfig, textEncoder2Config, unetConfig, textEncoderOutputs,
 *   textEncoder2Outputs, unetInputs });
 * info.textWidths // [768, 1280] for SDXL base; whatever the configs say for any other folder
 */
export const readSdxlInfo = (s: SdxlSources): SdxlInfo => {
  if (!takesAddedConditioning(s.unetInputs))
    throw bad(
      `the folder has text_encoder_2 but its UNet takes no text_embeds/time_ids (inputs: ${s.unetInputs.map((i) => i.name).join(', ')}); not an SDXL UNet`,
    );
  const one = encoderShape('text_encoder', s.textEncoderConfig, s.textEncoderOutputs);
  const two = encoderShape('text_encoder_2', s.textEncoder2Config, s.textEncoder2Outputs);
  const pooledIO = s.textEncoder2Outputs.find((o) => o.name === 'text_embeds');
  if (!pooledIO)
    throw bad(
      `text_encoder_2/model.onnx has no output 'text_embeds' (the projected pooled prompt of CLIPTextModelWithProjection); it has ${s.textEncoder2Outputs.map((o) => o.name).join(', ')}`,
    );
  const pooledWidth = int(s.textEncoder2Config?.projection_dim) ?? lastDim(pooledIO);
  if (pooledWidth === undefined) throw bad('text_encoder_2/config.json gives no projection_dim');
  const context = one.width + two.width;
  const cross =
    int(s.unetConfig?.cross_attention_dim) ?? lastDim(s.unetInputs.find((i) => i.name === 'encoder_hidden_states'));
  if (cross !== undefined && cross !== context)
    throw bad(
      `the UNet attends to a context ${cross} wide, but text_encoder (${one.width}) and text_encoder_2 (${two.width}) give ${context}`,
    );
  const timeEmbedDim = int(s.unetConfig?.addition_time_embed_dim);
  if (timeEmbedDim === undefined) throw bad('unet/config.json gives no addition_time_embed_dim');
  const expected = int(s.unetConfig?.projection_class_embeddings_input_dim);
  if (expected !== undefined && expected !== 6 * timeEmbedDim + pooledWidth)
    throw bad(
      `unet/config.json's projection_class_embeddings_input_dim is ${expected}, but 6 time ids × ${timeEmbedDim} + text_encoder_2's projection_dim ${pooledWidth} = ${6 * timeEmbedDim + pooledWidth}`,
    );
  const force = s.modelIndex?.force_zeros_for_empty_prompt;
  return {
    textWidths: [one.width, two.width],
    textLayers: [one.layers, two.layers],
    contextOutputs: [one.penultimate, two.penultimate],
    pooledWidth,
    pooledOutput: pooledIO.name,
    timeEmbedDim,
    forceZerosForEmptyPrompt: typeof force === 'boolean' ? force : true,
    pooling: s.textEncoder2Config?.eos_token_id === 2 ? 'argmax' : 'first-eos',
  };
};

/** An SDXL folder as `inspect` shows it: its info and both tokenizers' pad tokens. */
export interface SdxlDescription {
  readonly info: SdxlInfo;
  readonly padTokens: readonly [string, string];
}

/**
 * One paragraph saying what an SDXL folder is made of.
 * @example
 * sdxlSummary(d) // "SDXL: context 96 = text_encoder 32 wide (2 layers, from hidden_states.1) + …"
 */
export const sdxlSummary = ({ info: s, padTokens }: SdxlDescription): string =>
  [
    `SDXL: context ${s.textWidths[0] + s.textWidths[1]} = text_encoder ${s.textWidths[0]} wide (${s.textLayers[0]} layers, from ${s.contextOutputs[0]}) + text_encoder_2 ${s.textWidths[1]} wide (${s.textLayers[1]} layers, from ${s.contextOutputs[1]})`,
    `  pooled: ${s.pooledOutput} ${s.pooledWidth} wide, pooled at ${s.pooling === 'argmax' ? "argmax(input_ids) (the config's legacy eos_token_id 2)" : 'the first EOS'}; time ids 6 × ${s.timeEmbedDim}`,
    `  pad tokens: tokenizer ${JSON.stringify(padTokens[0])}, tokenizer_2 ${JSON.stringify(padTokens[1])}; empty negative prompt: ${s.forceZerosForEmptyPrompt ? 'zeros (force_zeros_for_empty_prompt)' : 'encoded'}`,
  ].join('\n');

const jsonOf = async (files: ModelFiles, rel: string): Promise<Record<string, unknown> | undefined> => {
  const t = await files.readText(rel);
  if (t === undefined) return undefined;
  try {
    return JSON.parse(t);
  } catch (e) {
    throw bad(`${files.root}/${rel} is not valid JSON: ${(e as Error).message}`);
  }
};

/**
 * The sources `readSdxlInfo` reads, from a folder and its decoded graphs (keyed by component folder).
 * @example
 * readSdxlInfo(await sdxlSources(files, { text_encoder: g1, text_encoder_2: g2 }, unetSession.inputs))
 */
export const sdxlSources = async (
  files: ModelFiles,
  graphs: Readonly<Record<string, Graph | undefined>>,
  unetInputs?: readonly NamedIO[],
): Promise<SdxlSources> => {
  const outputs = (c: string) =>
    (graphs[c]?.outputs ?? []).map((o) => ({ name: o.name, shape: o.type?.shape ?? undefined }));
  return {
    modelIndex: await jsonOf(files, 'model_index.json'),
    textEncoderConfig: await jsonOf(files, 'text_encoder/config.json'),
    textEncoder2Config: await jsonOf(files, 'text_encoder_2/config.json'),
    unetConfig: await jsonOf(files, 'unet/config.json'),
    textEncoderOutputs: outputs('text_encoder'),
    textEncoder2Outputs: outputs('text_encoder_2'),
    unetInputs:
      unetInputs ?? (graphs.unet?.inputs ?? []).map((i) => ({ name: i.name, shape: i.type?.shape ?? undefined })),
  };
};

/**
 * Describes an SDXL folder without opening sessions (for `inspect`): its info and the tokenizers' pad tokens.
 * @example
 * sdxlSummary(await describeSdxlFolder(files, graphs))
 */
export const describeSdxlFolder = async (
  files: ModelFiles,
  graphs: Readonly<Record<string, Graph | undefined>>,
): Promise<SdxlDescription> => {
  const info = readSdxlInfo(await sdxlSources(files, graphs));
  const pad = async (dir: string) => (await loadTokenizer((f) => files.readText(`${dir}/${f}`))).padToken;
  return { info, padTokens: [await pad('tokenizer'), await pad('tokenizer_2')] };
};
