/**
 * Sets a training run up: the step graph composed from the model's components, the placeholder tokens and their
 * starting vectors, and the settings resolved from request flags and a pipeline description.
 */
import { PipelineError } from '../../common/errors.ts';
import { objectTemplates, styleTemplates } from '../../common/train/templates.ts';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import { vectorTokens } from '../../weights/embeddings/expand-prompt.ts';
import { injectVectors } from '../../weights/embeddings/inject-vectors.ts';
import { copyTokenizer } from '../../weights/embeddings/with-embeddings.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { decodeModel, type Model } from '../../weights/onnx/proto.ts';
import { readTensorProto } from '../../weights/onnx/tensor-proto.ts';
import type { ClipTokenizer } from '../../weights/tokenizer/clip-tokenizer.ts';
import { fingerprint } from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';
import { buildTrainGraph } from '../../weights/training/train-graph.ts';
import { addLora, type LoraShape } from '../../weights/lora/add-lora.ts';
import { loraInputNames, type LoraLayerSpec } from '../../weights/lora/lora-params.ts';

/** Resolves request flags and an optional description into the stage settings. */
export const resolveSettings = (
  r: TrainRequest,
  description: unknown,
  trainSteps: number,
): TrainContext['settings'] => {
  const d = trainPipelineDescription.parse(description ?? {});
  return {
    timesteps: d.timesteps ?? { use: 'uniform', min: 0, max: trainSteps },
    lossWeighting:
      d.lossWeighting ?? (r.minSnrGamma > 0 ? { use: 'min-snr', gamma: r.minSnrGamma } : { use: 'uniform' }),
    optimizer: d.optimizer ?? { use: 'adamw' },
    augment: d.augment ?? { flipProbability: r.flipProbability },
    inversion: d.inversion ?? (r.method === 'pivotal' ? { use: 'pivotal', ...r.lora } : { use: 'ti' }),
  };
};

/** The component graphs composed into the training step. */
export const loadStepGraph = async (
  model: SdModel,
  latent?: [number, number, number],
  lora?: LoraShape,
): Promise<{
  graph: Model;
  tableRows: number;
  dim: number;
  tableVectors: (ids: number[]) => Float32Array;
  fingerprint: string;
  /** With `lora`: the layers that got a LoRA branch, in the order of the flat weights. */
  loraLayers?: LoraLayerSpec[];
}> => {
  // SDXL needs both encoders' vectors and the UNet's added conditioning in the step graph: not built yet.
  if (model.info.sdxl)
    throw new PipelineError(
      'bad_request',
      `training on SDXL models is not supported yet ('${model.files.root}'); generation with SDXL embeddings is`,
    );
  const teBytes = await model.files.readBytes('text_encoder/model.onnx');
  const unetBytes = await model.files.readBytes('unet/model.onnx');
  if (!teBytes || !unetBytes)
    throw new PipelineError('bad_model', `'${model.files.root}' lacks text_encoder/model.onnx or unet/model.onnx`);
  const te = injectVectors(decodeModel(teBytes));
  const tableProto = te.model.graph.initializers.find((t) => t.name === te.table)!;
  const table = readTensorProto(tableProto, (loc, off, len) => model.files.readRange(`text_encoder/${loc}`, off, len));
  const tableVectors = (ids: number[]) => {
    const out = new Float32Array(ids.length * te.dim);
    const data =
      table.dtype === 'float32' ? (table.data as Float32Array) : Float32Array.from(table.data as ArrayLike<number>);
    ids.forEach((id, i) => out.set(data.subarray(id * te.dim, (id + 1) * te.dim), i * te.dim));
    return out;
  };
  // Pivotal tuning: the UNet gets LoRA branches whose weights are inputs, differentiated with the vectors.
  const unet = decodeModel(unetBytes);
  const pivotal = lora ? addLora(unet, lora) : undefined;
  // Identifies the model for checkpoints from the bytes already read (the graphs, not the external weights).
  return {
    fingerprint: await fingerprint(teBytes, unetBytes),
    graph: buildTrainGraph(te.model, pivotal?.model ?? unet, {
      latent,
      sequence: 77,
      ...(pivotal ? { unetWrt: loraInputNames(pivotal.layers) } : {}),
    }),
    ...(pivotal
      ? { loraLayers: pivotal.layers.map(({ path, inFeatures, outFeatures }) => ({ path, inFeatures, outFeatures })) }
      : {}),
    tableRows: te.tableRows,
    dim: te.dim,
    tableVectors,
  };
};

/** Adds the placeholder tokens and returns the vectors' starting values: the init phrase spread over them. */
export const addPlaceholder = (
  base: ClipTokenizer,
  r: TrainRequest,
  tableRows: number,
  tableVectors: (ids: number[]) => Float32Array,
) => {
  if (base.vocabSize !== tableRows)
    throw new PipelineError(
      'bad_model',
      `the tokenizer has ${base.vocabSize} tokens but the text encoder's table has ${tableRows} rows; cannot add tokens`,
    );
  const tokenizer = copyTokenizer(base);
  const tokens = vectorTokens(r.token, r.vectors);
  for (const t of tokens)
    if (tokenizer.idOf(t) !== undefined)
      throw new PipelineError(
        'bad_embedding',
        `the token '${t}' already exists in the tokenizer; choose another --token`,
      );
  const tokenIds = tokenizer.addTokens(tokens);
  const initIds = tokenizer.encode(r.init);
  if (!initIds.length) throw new PipelineError('bad_request', `init: '${r.init}' has no tokens`);
  // A phrase spreads over the vectors: vector i starts as the embedding of init token ⌊i·k/n⌋ (n vectors, k tokens).
  const initVectors = tableVectors(tokens.map((_, i) => initIds[Math.floor((i * initIds.length) / tokens.length)]));
  return { tokenizer, tokens, tokenIds, initVectors };
};

export const templatesFor = (property: 'object' | 'style') => (property === 'style' ? styleTemplates : objectTemplates);
