/**
 * Sets a training run up: the step graph composed from the model's components, the placeholder tokens and their
 * starting vectors, and the settings resolved from request flags and a pipeline description.
 */
import { floatArray } from '../../common/numerics/half.ts';
import { PipelineError } from '../../common/errors.ts';
import { objectTemplates, styleTemplates } from '../../common/train/templates.ts';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import { vectorTokens } from '../../weights/embeddings/expand-prompt.ts';
import { injectVectors, type InjectedTextEncoder } from '../../weights/embeddings/inject-vectors.ts';
import { copyTokenizer } from '../../weights/embeddings/with-embeddings.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { decodeModel, type Model } from '../../weights/onnx/proto.ts';
import { readTensorProto } from '../../weights/onnx/tensor-proto.ts';
import type { ClipTokenizer } from '../../weights/tokenizer/clip-tokenizer.ts';
import { fingerprint } from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';
import { buildTrainGraph } from '../../weights/training/train-graph.ts';
import { gradOptionsFor } from '../../weights/training/memory-mode.ts';
import type { GradOptions } from '../../weights/autodiff/grad-emitter.ts';
import type { InversionChoice } from '../../common/train/train-pipeline.ts';
import { packLayers, splitCrossAttention } from '../../weights/methods/p-plus-unet.ts';
import { tileIdsPerLayer } from '../../weights/methods/p-plus-text-encoder.ts';
import type { MethodModel } from '../../weights/methods/inversion-method.ts';
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
    inversion: d.inversion ?? (r.method === 'pivotal' ? { use: 'pivotal', ...r.lora } : { use: r.method }),
  };
};

/** The component graphs composed into the training step. */
export const loadStepGraph = async (
  model: SdModel,
  latent?: [number, number, number],
  /** The inversion method and the vectors per token (p-plus rewrites both graphs). */
  method?: { choice: InversionChoice; vectors: number },
  /** Autodiff options (TrainRequest.memory's, gradOptionsFor). */
  grad?: GradOptions,
): Promise<{
  graph: Model;
  /** p-plus: the UNet's cross-attention layers, one vector set each. */
  layers?: string[];
  tableRows: number;
  dim: number;
  tableVectors: (ids: number[]) => Float32Array;
  fingerprint: string;
  /** pivotal: the LoRA's shape and the layers that got a branch, in the order of the flat weights. */
  lora?: StepLora;
}> => {
  // SDXL's step has both encoders' vectors and the UNet's added conditioning: see train-setup-xl.ts.
  if (model.info.sdxl)
    throw new PipelineError('bad_request', `'${model.files.root}' is an SDXL model; its step graph is setupXlText's`);
  const teBytes = await model.files.readBytes('text_encoder/model.onnx');
  const unetBytes = await model.files.readBytes('unet/model.onnx');
  if (!teBytes || !unetBytes)
    throw new PipelineError('bad_model', `'${model.files.root}' lacks text_encoder/model.onnx or unet/model.onnx`);
  const te = injectVectors(decodeModel(teBytes));
  const tableVectors = tableVectorsOf(te, model, 'text_encoder');
  const unet = decodeModel(unetBytes);
  const choice = method?.choice;
  const split = choice?.use === 'p-plus' ? splitCrossAttention(unet) : undefined;
  // Pivotal tuning: the UNet gets LoRA branches whose weights are inputs, differentiated with the vectors.
  const loraShape = choice?.use === 'pivotal' ? { rank: choice.rank, alpha: choice.alpha ?? choice.rank } : undefined;
  const pivotal = loraShape ? addLora(unet, loraShape) : undefined;
  const graph = split
    ? buildTrainGraph(
        tileIdsPerLayer(te.model, { tableRows: te.tableRows, vectors: method!.vectors, layers: split.layers.length }),
        packLayers(split, 'batch', 77),
        { latent, sequence: 77, ...(grad ? { grad } : {}) },
      )
    : buildTrainGraph(te.model, pivotal?.model ?? unet, {
        latent,
        sequence: 77,
        ...(grad ? { grad } : {}),
        ...(pivotal ? { unetWrt: loraInputNames(pivotal.layers) } : {}),
      });
  // Identifies the model for checkpoints from the bytes already read (the graphs, not the external weights).
  return {
    fingerprint: await fingerprint(teBytes, unetBytes),
    graph,
    ...(split ? { layers: split.layers } : {}),
    ...(pivotal && loraShape
      ? {
          lora: {
            shape: loraShape,
            layers: pivotal.layers.map(({ path, inFeatures, outFeatures }) => ({ path, inFeatures, outFeatures })),
          },
        }
      : {}),
    tableRows: te.tableRows,
    dim: te.dim,
    tableVectors,
  };
};

/** Reads rows of an injected text encoder's frozen token table (the starting vectors of new tokens). */
export const tableVectorsOf = (
  te: InjectedTextEncoder,
  model: SdModel,
  component: 'text_encoder' | 'text_encoder_2',
): ((ids: number[]) => Float32Array) => {
  const tableProto = te.model.graph.initializers.find((t) => t.name === te.table)!;
  const table = readTensorProto(tableProto, (loc, off, len) => model.files.readRange(`${component}/${loc}`, off, len));
  // A float16 table holds IEEE half bits: widen them (the vectors are float32 masters).
  const data =
    table.dtype === 'float32'
      ? (table.data as Float32Array)
      : table.dtype === 'float16'
        ? floatArray(table.data as Uint16Array)
        : Float32Array.from(table.data as ArrayLike<number>);
  return (ids: number[]) => {
    const out = new Float32Array(ids.length * te.dim);
    ids.forEach((id, i) => out.set(data.subarray(id * te.dim, (id + 1) * te.dim), i * te.dim));
    return out;
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

/** A run's step graph and placeholder tokens, whichever the model's family (SDXL's: train-setup-xl.ts). */
export interface TrainText {
  graph: Model;
  /** Identifies the model's graphs in checkpoints. */
  fingerprint: string;
  tokenizer: ClipTokenizer;
  tokens: string[];
  tokenIds: number[];
  dim: number;
  /** The state's starting vectors (SDXL: text_encoder's [n, dim] then text_encoder_2's [n, dim2]). */
  initVectors: Float32Array;
  xl?: TrainContext['xl'];
  /** What the inversion method's hooks read from the model (weights/methods/inversion-method.ts). */
  method: MethodModel;
  /** pivotal: the LoRA branches the step graph has. */
  lora?: StepLora;
}

/** The LoRA branches of a pivotal-tuning step graph. */
export interface StepLora {
  shape: LoraShape;
  layers: LoraLayerSpec[];
}

/** The SD1.x/SD2.x step graph and the placeholder tokens of a request, for the method it chose. */
export const setupSdText = async (
  model: SdModel,
  r: TrainRequest,
  latent: [number, number, number],
  choice: InversionChoice,
): Promise<TrainText> => {
  const { graph, tableRows, dim, tableVectors, fingerprint, layers, lora } = await loadStepGraph(
    model,
    latent,
    { choice, vectors: r.vectors },
    gradOptionsFor(r.memory),
  );
  const { tokenizer, tokens, tokenIds, initVectors } = addPlaceholder(model.tokenizer, r, tableRows, tableVectors);
  return {
    graph,
    fingerprint,
    tokenizer,
    tokens,
    tokenIds,
    dim,
    initVectors,
    method: { dim, tableRows, tableVectors, ...(layers ? { layers } : {}) },
    ...(lora ? { lora } : {}),
  };
};

export const templatesFor = (property: 'object' | 'style') => (property === 'style' ? styleTemplates : objectTemplates);
