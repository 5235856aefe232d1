import { describe, expect, test } from 'bun:test';
import { openGraph } from '../../adapters/graph-session.ts';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { injectVectors, vectorsInput } from '../embeddings/inject-vectors.ts';
import { decodeModel, encodeModel } from '../onnx/proto.ts';
import { makeTensorProto } from '../onnx/tensor-proto.ts';
import { runSdxlTextEncoders } from '../sdxl-text-io.ts';
import type { Session } from '../session.ts';
import { buildTrainGraphXl, trainInputsXl as I, trainOutputsXl as O, xlInitializerFolder } from './train-graph-xl.ts';

const model = await openModel('tiny-xl');
const sdxl = model.info.sdxl!;
const read = async (rel: string) => decodeModel((await model.files.readBytes(rel))!);
const te1 = injectVectors(await read('text_encoder/model.onnx'));
const te2 = injectVectors(await read('text_encoder_2/model.onnx'));
const unet = await read('unet/model.onnx');
const open = (m: ReturnType<typeof buildTrainGraphXl>) =>
  openGraph(m, (init, loc) => model.files.path(`${xlInitializerFolder(init)}/${loc}`));
const step = await open(buildTrainGraphXl(te1, te2, unet, { latent: [4, 8, 8], sequence: 77 }));

const B = 2;
const N = 2;
const [w1, w2] = sdxl.textWidths;
const lat = [B, 4, 8, 8];
const n = lat.reduce((a, b) => a * b);
const V1 = te1.tableRows;
const V2 = te2.tableRows;
// Both placeholders appear, one per sample; under the legacy pooling rule (argmax of the ids) each sample's pooled
// prompt is its placeholder's row, so the gradient also flows through text_encoder_2's GatherND and the UNet's
// added embedding.
const rows = (tok: typeof model.tokenizer, V: number) =>
  [
    [...tok.encode('a photo of a'), V],
    [V + 1, ...tok.encode('on a table')],
  ].map((w) => [tok.bosId, ...w, tok.eosId, ...new Array(77 - w.length - 2).fill(tok.padId)]);
const ids1 = rows(model.tokenizer, V1);
const ids2 = rows(model.tokenizer2!, V2);
const timeIds = [
  [96, 128, 0, 16, 64, 64],
  [64, 64, 0, 0, 64, 64],
];
const latents = createRng(1).fillNormal(new Float32Array(n));
const feeds = (v1: Float32Array, v2: Float32Array): Record<string, Tensor> => ({
  [I.ids]: tensor('int32', [B, 77], Int32Array.from(ids1.flat())),
  [I.ids2]: tensor('int32', [B, 77], Int32Array.from(ids2.flat())),
  [I.vectors]: tensor('float32', [N, w1], v1),
  [I.vectors2]: tensor('float32', [N, w2], v2),
  [I.latents]: tensor('float32', lat, latents),
  [I.timestep]: tensor('float32', [B], Float32Array.of(500, 120)),
  [I.timeIds]: tensor('float32', [B, 6], Float32Array.from(timeIds.flat())),
  [I.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(n))),
  [I.weights]: tensor('float32', [B], Float32Array.of(1, 0.5)),
});
const rng = createRng(7);
// Vectors of the size of the tables' rows (tiny-xl's embeddings are N(0, 0.02²)-sized), so a step is a real change.
const v1 = Float32Array.from({ length: N * w1 }, () => rng.normal() * 0.02);
const v2 = Float32Array.from({ length: N * w2 }, () => rng.normal() * 0.02);

const loss = async (a: Float32Array, b: Float32Array) =>
  ((await step.run(feeds(a, b), [O.loss]))[O.loss].data as Float32Array)[0];

describe('the SDXL training-step graph (tiny-xl)', () => {
  test('takes both encoders’ ids and vectors and per-sample time_ids, and returns the loss, both gradients and the prediction', async () => {
    expect(step.inputs.map((i) => i.name).sort()).toEqual(
      [I.ids, I.ids2, I.vectors, I.vectors2, I.latents, I.timestep, I.timeIds, I.target, I.weights].sort(),
    );
    const out = await step.run(feeds(v1, v2));
    expect(out[O.loss].dims).toEqual([]);
    expect(out[O.grad].dims).toEqual([N, w1]);
    expect(out[O.grad2].dims).toEqual([N, w2]);
    expect(out[O.prediction].dims).toEqual(lat);
  });

  test('predicts what the UNet predicts from the two encoders run apart: penultimate states joined, pooled text_embeds, time_ids', async () => {
    // The reference: generation's own SDXL text path (weights/sdxl-text-io.ts) on the injected encoders, then the UNet.
    const feeding = (s: Session, v: Tensor): Session => ({
      ...s,
      run: (f, o) => s.run({ ...f, [vectorsInput]: v }, o),
    });
    const [s1, s2, su] = await Promise.all([
      ortSessionFactory.create(encodeModel(te1.model)),
      ortSessionFactory.create(encodeModel(te2.model)),
      model.session('unet'),
    ]);
    const text = await runSdxlTextEncoders(
      [feeding(s1, tensor('float32', [N, w1], v1)), feeding(s2, tensor('float32', [N, w2], v2))],
      sdxl,
      ids1,
      ids2,
    );
    const got = (await step.run(feeds(v1, v2), [O.prediction]))[O.prediction].data as Float32Array;
    for (let b = 0; b < B; b++) {
      const out = await su.run({
        sample: tensor('float32', [1, 4, 8, 8], latents.slice(b * (n / B), (b + 1) * (n / B))),
        timestep: tensor('float32', [1], Float32Array.of([500, 120][b])),
        encoder_hidden_states: text[b].context,
        text_embeds: text[b].pooled,
        time_ids: tensor('float32', [1, 6], Float32Array.from(timeIds[b])),
      });
      const want = Object.values(out)[0].data as Float32Array;
      const part = got.subarray(b * (n / B), (b + 1) * (n / B));
      const err = Math.max(...want.map((w, i) => Math.abs(w - part[i])));
      expect(err).toBeLessThan(1e-4);
    }
  });

  test('gives gradients for both vector inputs equal to central differences of the loss (float32: ε 1e-2, 2% + 1e-5)', async () => {
    // onnxruntime's CPU provider has no float64 Conv, so the graph cannot be checked in double precision: the loss is
    // float32 (≈1), so ε = 1e-2 on entries of 2e-2, and a tolerance of 2% of the gradient plus 1e-5.
    const out = await step.run(feeds(v1, v2));
    const g1 = out[O.grad].data as Float32Array;
    const g2 = out[O.grad2].data as Float32Array;
    const eps = 1e-2;
    const fd = async (which: 1 | 2, k: number) => {
      const shift = (d: number) => {
        const [a, b] = [Float32Array.from(v1), Float32Array.from(v2)];
        (which === 1 ? a : b)[k] += d;
        return loss(a, b);
      };
      return ((await shift(eps)) - (await shift(-eps))) / (2 * eps);
    };
    for (const k of [0, 7, w1 + 3, w1 + 20])
      expect(Math.abs((await fd(1, k)) - g1[k])).toBeLessThan(0.02 * Math.abs(g1[k]) + 1e-5);
    for (const k of [1, 40, w2 + 5, w2 + 63])
      expect(Math.abs((await fd(2, k)) - g2[k])).toBeLessThan(0.02 * Math.abs(g2[k]) + 1e-5);
    // Along one random direction in all of both inputs at once: ⟨g, d⟩ against the loss's central difference.
    const d1 = createRng(3).fillNormal(new Float32Array(N * w1));
    const d2 = createRng(4).fillNormal(new Float32Array(N * w2));
    const along = (s: number) =>
      loss(
        v1.map((x, i) => x + s * d1[i]),
        v2.map((x, i) => x + s * d2[i]),
      );
    const h = 2e-3;
    const numeric = ((await along(h)) - (await along(-h))) / (2 * h);
    const analytic = g1.reduce((s, g, i) => s + g * d1[i], 0) + g2.reduce((s, g, i) => s + g * d2[i], 0);
    expect(Math.abs(numeric - analytic)).toBeLessThan(0.02 * Math.abs(analytic));
    // Every row of both inputs is used in the batch, so each gets a gradient.
    for (const [g, w] of [
      [g1, w1],
      [g2, w2],
    ] as const)
      for (let r = 0; r < N; r++) expect(g.subarray(r * w, (r + 1) * w).some((x) => x !== 0)).toBe(true);
  });

  test('carries gradient to text_encoder_2’s vectors through the pooled text_embeds as well as the context', async () => {
    // The same step with the pooled prompt multiplied by 0 before the UNet: what remains of the gradient is the
    // context's part alone. The full gradient (checked against differences above) differs from it by the pooled part.
    const g = te2.model.graph;
    const renamed = g.nodes.map((nd) => ({
      ...nd,
      outputs: nd.outputs.map((o) => (o === sdxl.pooledOutput ? 'pooled_before_cut' : o)),
    }));
    const cut = {
      ...te2,
      model: {
        ...te2.model,
        graph: {
          ...g,
          nodes: [
            ...renamed,
            {
              name: 'cut',
              opType: 'Mul',
              domain: '',
              inputs: ['pooled_before_cut', 'cut_zero'],
              outputs: [sdxl.pooledOutput],
              attributes: [],
              unknown: [],
            },
          ],
          initializers: [...g.initializers, makeTensorProto('cut_zero', tensor('float32', [], Float32Array.of(0)))],
        },
      },
    };
    const cutStep = await open(buildTrainGraphXl(te1, cut, unet, { latent: [4, 8, 8], sequence: 77 }));
    const full = (await step.run(feeds(v1, v2)))[O.grad2].data as Float32Array;
    const contextOnly = (await cutStep.run(feeds(v1, v2)))[O.grad2].data as Float32Array;
    const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    const diff = norm(full.map((x, i) => x - contextOnly[i]));
    expect(diff).toBeGreaterThan(0.1 * norm(full)); // measured: ≈ 0.95 — on tiny-xl the pooled path dominates
    expect(norm(contextOnly)).toBeGreaterThan(0);
  });
});
