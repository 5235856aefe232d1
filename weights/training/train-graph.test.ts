import { describe, expect, test } from 'bun:test';
import { openModel } from '../../adapters/open-model.ts';
import { openGraph } from '../../adapters/graph-session.ts';
import { decodeModel } from '../onnx/proto.ts';
import { injectVectors } from '../embeddings/inject-vectors.ts';
import { buildTrainGraph, trainInputs, trainOutputs } from './train-graph.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';

const model = await openModel('tiny');
const te = injectVectors(decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!));
const unet = decodeModel((await model.files.readBytes('unet/model.onnx'))!);
const step = buildTrainGraph(te.model, unet);
// The UNet's weights are external data beside unet/model.onnx: openGraph writes the step graph into the cache
// beside links to them (the model folder itself is never written).
const session = await openGraph(step, (init, loc) =>
  model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
);

const rng = createRng(7);
const B = 2;
const h = model.info.resolution / model.info.vaeScale;
const lat = [B, model.info.latentChannels, h, h];
const n = lat.reduce((a, b) => a * b);
const V = te.tableRows;
const row = (word: number[]) => [
  model.tokenizer.bosId,
  ...word,
  model.tokenizer.eosId,
  ...new Array(77 - word.length - 2).fill(model.tokenizer.padId),
];
const ids = tensor(
  'int32',
  [B, 77],
  Int32Array.from([
    ...row([...model.tokenizer.encode('a photo of a'), V]),
    ...row([V + 1, ...model.tokenizer.encode('on a table')]),
  ]),
);
const feeds = (vectors: Float32Array): Record<string, Tensor> => ({
  [trainInputs.ids]: ids,
  [trainInputs.vectors]: tensor('float32', [2, te.dim], vectors),
  [trainInputs.latents]: tensor('float32', lat, createRng(1).fillNormal(new Float32Array(n))),
  [trainInputs.timestep]: tensor('float32', [B], Float32Array.of(500, 120)),
  [trainInputs.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(n))),
  [trainInputs.weights]: tensor('float32', [B], Float32Array.of(1, 0.5)),
});
const vectors = Float32Array.from({ length: 2 * te.dim }, () => rng.normal() * 0.02);

describe('the training-step graph', () => {
  test('has one run returning the loss, the gradient for the vectors and the prediction', async () => {
    const out = await session.run(feeds(vectors));
    expect(out[trainOutputs.loss].dims).toEqual([]);
    expect(out[trainOutputs.grad].dims).toEqual([2, te.dim]);
    expect(out[trainOutputs.prediction].dims).toEqual(lat);
  });

  test('gives a gradient equal to central differences of the loss', async () => {
    const grad = (await session.run(feeds(vectors)))[trainOutputs.grad].data as Float32Array;
    const loss = async (v: Float32Array) => ((await session.run(feeds(v)))[trainOutputs.loss].data as Float32Array)[0];
    // Central differences per coordinate, in both vectors (the loss is float32, so ε = 1e-2 on O(1e-2) entries).
    for (const k of [0, 5, te.dim + 3, te.dim + 17]) {
      const eps = 1e-2;
      const plus = Float32Array.from(vectors);
      plus[k] += eps;
      const minus = Float32Array.from(vectors);
      minus[k] -= eps;
      const fd = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      expect(Math.abs(fd - grad[k])).toBeLessThan(0.02 * Math.abs(grad[k]) + 1e-5);
    }
    // Row 1 (id V+1) and row 0 (id V) both appear in the batch, so both get a gradient.
    expect(grad.subarray(0, te.dim).some((g) => g !== 0)).toBe(true);
    expect(grad.subarray(te.dim).some((g) => g !== 0)).toBe(true);
  });
});
