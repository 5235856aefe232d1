/**
 * The product's fused SDXL training step — the graph `train` runs each micro-batch — built from a torch.onnx-exported
 * SDXL folder, checked against PyTorch's float64 values for the same step (test/fixtures/torch-sdxl/make_folder.py;
 * reference.json's `inversion` states every input). Unlike test/torch-sdxl-grad.test.ts, which checks a composition
 * written in the test, the graph here is made by the set-up `train` uses (setupXlText: buildTrainGraphXl with the
 * folder's contextOutputs and pooledOutput, the placeholder added to both tokenizers) and opened as `train` opens
 * it (trainDeps().openGraph), so what is checked is what trains.
 *
 * torch's step is diffusers' SDXL textual inversion (examples/textual_inversion/textual_inversion_sdxl.py):
 *
 *   context    = cat(text_encoder hidden_states[-2], text_encoder_2 hidden_states[-2]), last axis
 *   prediction = unet(noisy_latents, timesteps (one per sample), context, text_embeds = text_encoder_2's
 *                pooled projection, time_ids)
 *   loss       = mse_loss(prediction, target, reduction='mean')  (= the mean over the batch of per-sample
 *                means, the product's loss with loss_weights 1, which are its default: min-SNR γ is 0)
 *
 * Tolerance: rel-L2 ≤ 1e-5 for the prediction and both gradients, relative error ≤ 1e-5 for the loss (float32
 * onnxruntime against float64 torch of the same weights).
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { trainDeps } from '../adapters/train-deps.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { setupXlText } from '../pipeline/train/train-setup-xl.ts';
import { trainInputsXl, trainOutputsXl, xlInitializerFolder } from '../weights/training/train-graph-xl.ts';
import { relL2 } from './support/rel-l2.ts';
import { type Stored, torchSdxlInversion, torchSdxlRoot, torchSdxlFolder } from './support/torch-sdxl-reference.ts';

const _root = torchSdxlRoot;
const folder = torchSdxlFolder;

const inv = torchSdxlInversion;

// As `train` sets a run up (pipeline/train/run-train.ts): the model opened by name (a folder path), the step graph
// and tokenizers from setupXlText at the model's own resolution, the graph opened by the train deps.
const deps = trainDeps();
const model = await deps.openModel(folder, 'cpu');
const token = '<torch-xl>';
const request = parseTrainRequest({ model: folder, images: folder, token, init: 'red', vectors: 1 });
const h = (request.resolution ?? model.info.resolution) / model.info.vaeScale;
const text = await setupXlText(model, request, [model.info.latentChannels, h, h]);
const step = await deps.openGraph(
  text.graph,
  (init, loc) => model.files.path(`${xlInitializerFolder(init)}/${loc}`),
  'cpu',
);
afterAll(() => step.release());

const I = trainInputsXl;
const O = trainOutputsXl;
const f32 = (s: Stored) => tensor('float32', s.dims, Float32Array.from(s.data));
/** Ids as the step declares them (int64 for a torch export), as the trainer's feeders do. */
const ids = (input: string, rows: number[][]): Tensor => {
  const dims = [rows.length, rows[0].length];
  return step.inputs.find((i) => i.name === input)?.dtype === 'int64'
    ? tensor('int64', dims, BigInt64Array.from(rows.flat(), BigInt))
    : tensor('int32', dims, Int32Array.from(rows.flat()));
};
const feeds = (): Record<string, Tensor> => ({
  [I.ids]: ids(I.ids, inv.input_ids),
  [I.ids2]: ids(I.ids2, inv.input_ids_2),
  [I.vectors]: f32(inv.clip_l),
  [I.vectors2]: f32(inv.clip_g),
  [I.latents]: f32(inv.noisy_latents),
  [I.timestep]: tensor('int64', [inv.timestep.length], BigInt64Array.from(inv.timestep, BigInt)),
  [I.timeIds]: f32(inv.time_ids),
  [I.target]: f32(inv.target),
  [I.weights]: tensor('float32', [inv.timestep.length], new Float32Array(inv.timestep.length).fill(1)),
});

/** The measured errors, printed once so a run shows them (the report quotes these lines). */
const measured: Record<string, number> = {};
afterAll(() => console.log(`torch-sdxl train step vs torch float64: ${JSON.stringify(measured)}`));

describe("the product's fused SDXL training step on a torch.onnx-exported folder, against PyTorch", () => {
  test('the set-up gives the placeholder id V in both tokenizers and tokenizes the reference prompts to its ids', () => {
    expect(text.tokenIds).toEqual([inv.placeholder_id]);
    expect(text.xl.tokenizer2.idOf(token)).toBe(inv.placeholder_id);
    // reference.json's prompts, with the placeholder: "a photo of <p>" and "a <p> red circle"; tokenizer pads
    // with <|endoftext|>, tokenizer_2 with "!" (as SDXL's tokenizer_2 does).
    const prompts = [`a photo of ${token}`, `a ${token} red circle`];
    expect(prompts.map((p) => text.tokenizer.tokenize(p, { length: 77 }).ids)).toEqual(inv.input_ids);
    expect(prompts.map((p) => text.xl.tokenizer2.tokenize(p, { length: 77 }).ids)).toEqual(inv.input_ids_2);
  });

  test('the step takes per-sample timesteps and the inputs torch was given', () => {
    const shape = (n: string) => step.inputs.find((i) => i.name === n)?.shape;
    expect(shape(I.timestep)).toEqual(['batch']);
    expect(shape(I.latents)).toEqual(['batch', 4, 8, 8]);
    expect(shape(I.vectors)?.[1]).toBe(inv.clip_l.dims[1]);
    expect(shape(I.vectors2)?.[1]).toBe(inv.clip_g.dims[1]);
  });

  test('loss, prediction, d loss / d clip_l and d loss / d clip_g match torch to ≤ 1e-5', async () => {
    const out = await step.run(feeds());
    const loss = (out[O.loss].data as Float32Array)[0];
    const prediction = out[O.prediction].data as Float32Array;
    const gradL = out[O.grad].data as Float32Array;
    const gradG = out[O.grad2].data as Float32Array;
    expect(out[O.prediction].dims).toEqual(inv.prediction.dims);
    expect(out[O.grad].dims).toEqual(inv.clip_l_grad.dims);
    expect(out[O.grad2].dims).toEqual(inv.clip_g_grad.dims);
    measured.loss = Math.abs(loss - inv.loss) / inv.loss;
    measured.prediction = relL2(prediction, inv.prediction.data);
    measured.clip_l_grad = relL2(gradL, inv.clip_l_grad.data);
    measured.clip_g_grad = relL2(gradG, inv.clip_g_grad.data);
    expect(measured.loss).toBeLessThanOrEqual(1e-5);
    expect(measured.prediction).toBeLessThanOrEqual(1e-5);
    expect(measured.clip_l_grad).toBeLessThanOrEqual(1e-5);
    expect(measured.clip_g_grad).toBeLessThanOrEqual(1e-5);
  });

  test('loss_weights weight each sample’s mean (as min-SNR feeds them); torch’s loss is the weights-1 case', async () => {
    // The per-sample losses from torch's prediction, in float64: a weighted step must give mean_b(w_b · loss_b).
    const per = [0, 1].map((b) => {
      const n = inv.prediction.data.length / 2;
      let s = 0;
      for (let i = b * n; i < (b + 1) * n; i++) s += (inv.prediction.data[i] - inv.target.data[i]) ** 2;
      return s / n;
    });
    expect(Math.abs((per[0] + per[1]) / 2 - inv.loss) / inv.loss).toBeLessThan(1e-12);
    const w = [0.25, 1.5];
    const out = await step.run({ ...feeds(), [I.weights]: tensor('float32', [2], Float32Array.from(w)) });
    const want = (w[0] * per[0] + w[1] * per[1]) / 2;
    expect(Math.abs((out[O.loss].data as Float32Array)[0] - want) / want).toBeLessThanOrEqual(1e-5);
  });
});
