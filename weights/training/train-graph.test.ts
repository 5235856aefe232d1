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

describe('the training-step graph with every attention split over its heads', () => {
  test('gives the loss and gradient of the whole graph (causal text attention, UNet self- and cross-attention)', async () => {
    // A 1-byte limit splits every attention: CLIP's (with its causal mask), the UNet's self-attention (Q, K, V
    // packed) and its cross-attention (77 keys: Q, K, V split one by one).
    // Static latent and text sizes: the split needs the score matrix's size.
    const split = buildTrainGraph(te.model, unet, {
      latent: [model.info.latentChannels, h, h],
      sequence: 77,
      grad: { splitAttention: 1 },
    });
    const softmaxes = (m: typeof step) => m.graph.nodes.filter((n) => n.opType === 'Softmax').length;
    expect(softmaxes(split)).toBeGreaterThanOrEqual(softmaxes(step) * 2); // every attention has 2 or more heads
    expect(split.graph.nodes.some((n) => n.name.includes('pack_qkv'))).toBe(true);
    const s = await openGraph(split, (init, loc) =>
      model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
    );
    const [a, b] = [await session.run(feeds(vectors)), await s.run(feeds(vectors))];
    const rel = (x: Float32Array, y: Float32Array) =>
      Math.sqrt(x.reduce((t, v, i) => t + (v - y[i]) ** 2, 0) / y.reduce((t, v) => t + v * v, 0));
    expect(rel(b[trainOutputs.loss].data as Float32Array, a[trainOutputs.loss].data as Float32Array)).toBeLessThan(
      1e-6,
    );
    expect(rel(b[trainOutputs.grad].data as Float32Array, a[trainOutputs.grad].data as Float32Array)).toBeLessThan(
      1e-5,
    );
  });
});
