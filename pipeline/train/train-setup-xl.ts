/**
 * Sets an SDXL training run up: the fused step graph of both text encoders and the UNet (train-graph-xl.ts), and
 * the placeholder tokens added to both tokenizers, each token's vectors in each encoder starting from the init
 * phrase in that encoder's own token table (the widths differ: text_encoder [n, w₁], text_encoder_2 [n, w₂]).
 */
import { PipelineError } from '../../common/errors.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import type { InversionChoice } from '../../common/train/train-pipeline.ts';
import { injectVectors, type InjectedTextEncoder } from '../../weights/embeddings/inject-vectors.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { decodeModel } from '../../weights/onnx/proto.ts';
import { fingerprint } from '../../weights/training/checkpoint-files.ts';
import { gradOptionsFor } from '../../weights/training/memory-mode.ts';
import { buildTrainGraphXl } from '../../weights/training/train-graph-xl.ts';
import { addPlaceholder, tableVectorsOf, type TrainText } from './train-setup.ts';

const read = async (model: SdModel, rel: string): Promise<Uint8Array> => {
  const bytes = await model.files.readBytes(rel);
  if (!bytes) throw new PipelineError('bad_model', `'${model.files.root}' lacks ${rel}`);
  return bytes;
};

/**
 * The SDXL step graph and the placeholder tokens of a request, in both tokenizers.
 * @example
 * const text = await setupXlText(model, request, [4, 128, 128]);
 * text.initVectors.length // n·w₁ + n·w₂
 */
export const setupXlText = async (
  model: SdModel,
  request: TrainRequest,
  latent: [number, number, number],
  choice: InversionChoice = { use: 'ti' },
): Promise<TrainText & { xl: NonNullable<TrainText['xl']> }> => {
  const info = model.info.sdxl;
  if (!info || !model.tokenizer2) throw new PipelineError('bad_model', `'${model.files.root}' is not an SDXL model`);
  // The other methods' hooks and graph rewrites assume one encoder's [n, dim] vectors; SDXL's state holds two widths.
  if (choice.use !== 'ti')
    throw new PipelineError(
      'bad_request',
      `--method ${choice.use} trains SD1.x/SD2.x models; on SDXL ('${model.files.root}') only ti is built`,
      { field: 'method' },
    );
  const [b1, b2, bu] = await Promise.all(
    ['text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'unet/model.onnx'].map((f) => read(model, f)),
  );
  const te1: InjectedTextEncoder = injectVectors(decodeModel(b1));
  const te2: InjectedTextEncoder = injectVectors(decodeModel(b2));
  const graph = buildTrainGraphXl(te1, te2, decodeModel(bu), {
    latent,
    sequence: 77,
    contextOutputs: info.contextOutputs,
    pooledOutput: info.pooledOutput,
    grad: gradOptionsFor(request.memory),
  });
  const table1 = tableVectorsOf(te1, model, 'text_encoder');
  const one = addPlaceholder(model.tokenizer, request, te1.tableRows, table1);
  const two = addPlaceholder(model.tokenizer2, request, te2.tableRows, tableVectorsOf(te2, model, 'text_encoder_2'));
  const initVectors = new Float32Array(one.initVectors.length + two.initVectors.length);
  initVectors.set(one.initVectors);
  initVectors.set(two.initVectors, one.initVectors.length);
  return {
    graph,
    // Identifies the model for checkpoints from the bytes already read (the graphs, not the external weights).
    fingerprint: await fingerprint(b1, b2, bu),
    tokenizer: one.tokenizer,
    tokens: one.tokens,
    tokenIds: one.tokenIds,
    dim: te1.dim,
    xl: { tokenizer2: two.tokenizer, dim2: te2.dim },
    initVectors,
    method: { dim: te1.dim, tableRows: te1.tableRows, tableVectors: table1 },
  };
};
