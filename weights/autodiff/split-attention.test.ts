import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor } from '../../common/tensor.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel, type Model } from '../onnx/proto.ts';
import { differentiate } from './differentiate.ts';

// Self-attention over N tokens of width C = H·d, L = Σ O·R, in float64 so central differences are exact enough:
//   4-D: Q, K, V as [1, H, N, d] (torch.onnx's SD export); 3-D: heads folded into the batch, [H, N, d].
const [N, H, d] = [6, 4, 2];
const C = H * d;
const rng = createRng(11);
const randn = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
const W = { q: randn(C * C), k: randn(C * C), v: randn(C * C) };
const R = randn(N * C);
const bias = Float64Array.from([0, 0, -1, 0.5, 0, -30]); // a key mask, broadcast over heads and queries

const build = (layout: '4d' | '3d', opts: { alsoReadP?: boolean; opset?: number } = {}): Model => {
  const b = new GraphBuilder();
  // The 4-D layout keeps the batch symbolic, as the training graphs do.
  const x = b.input('x', 'float64', [layout === '4d' ? 'batch' : 1, N, C]);
  const w = (name: string, v: Float64Array) => b.initializer(name, tensor('float64', [C, C], v));
  const heads = (v: string, perm: number[]) => {
    const t = b.op('Transpose', [b.op('Reshape', [v, b.constI64([0, -1, H, d])])], { perm });
    return layout === '4d' ? t : b.op('Reshape', [t, b.constI64([H, ...(perm[2] === 3 ? [d, N] : [N, d])])]);
  };
  const q = heads(b.op('MatMul', [x, w('Wq', W.q)]), [0, 2, 1, 3]);
  const kt = heads(b.op('MatMul', [x, w('Wk', W.k)]), [0, 2, 3, 1]);
  const v = heads(b.op('MatMul', [x, w('Wv', W.v)]), [0, 2, 1, 3]);
  const mask = b.initializer('mask', tensor('float64', layout === '4d' ? [1, 1, 1, N] : [1, 1, N], bias));
  const scale = b.initializer('scale', tensor('float64', [], Float64Array.of(1 / Math.sqrt(d))));
  const s = b.op('Add', [b.op('Mul', [b.op('MatMul', [q, kt]), scale]), mask]);
  const p = b.op('Softmax', [s], { axis: -1 }, { outputs: ['P'] });
  const o = b.op('MatMul', [p, v]);
  const merged =
    layout === '4d'
      ? b.op('Transpose', [o], { perm: [0, 2, 1, 3] })
      : b.op('Transpose', [b.op('Reshape', [o, b.constI64([1, H, N, d])])], { perm: [0, 2, 1, 3] });
  const out = b.op('Reshape', [merged, b.constI64([0, N, C])]);
  const r = b.initializer('R', tensor('float64', [1, N, C], R));
  b.output(b.op('ReduceSum', [b.op('Mul', [out, r])], { keepdims: 0 }), 'float64', [], 'loss');
  if (opts.alsoReadP) b.output(p, 'float64', null);
  return b.toModel(opts.opset ?? 17);
};

const softmaxes = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'Softmax').length;

/** The gradient from the split graph against central differences of the unsplit forward along random directions. */
const checkAgainstDifferences = async (layout: '4d' | '3d', bytes: number, opset = 17) => {
  const model = build(layout, { opset });
  const split = differentiate(model, { of: 'loss', wrt: ['x'], splitAttention: bytes });
  const run = await ortSessionFactory.create(encodeModel(split));
  const plain = await ortSessionFactory.create(encodeModel(model));
  const x0 = randn(N * C);
  const feed = (x: Float64Array) => ({ x: tensor('float64', [1, N, C], x) });
  const out = await run.run(feed(x0));
  const g = out.x_grad.data as Float64Array;
  const loss = async (x: Float64Array) => ((await plain.run(feed(x))).loss.data as Float64Array)[0];
  expect((out.loss.data as Float64Array)[0]).toBeCloseTo(await loss(x0), 12);
  const eps = 1e-6;
  for (let k = 0; k < 3; k++) {
    const dir = randn(N * C);
    const at = (t: number) => x0.map((v, i) => v + t * dir[i]);
    const numeric = ((await loss(at(eps))) - (await loss(at(-eps)))) / (2 * eps);
    const analytic = g.reduce((a, v, i) => a + v * dir[i], 0);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-7 * Math.max(1, Math.abs(numeric)));
  }
  return split;
};

describe('splitting big attention over its heads before differentiating', () => {
  test('gives one chain per head when one head is already over the limit, with the gradient of the whole', async () => {
    // One head's scores are 6·6·8 = 288 bytes: over 100, so every head is its own group.
    const split = await checkAgainstDifferences('4d', 100);
    expect(softmaxes(split)).toBe(H);
    expect(split.graph.nodes.some((n) => n.name.includes('pack_qkv'))).toBe(true);
  });

  test('groups heads up to the limit when heads are folded into the batch axis', async () => {
    // All heads: 1152 bytes; two groups of 576 fit under 600.
    const split = await checkAgainstDifferences('3d', 600);
    expect(softmaxes(split)).toBe(2);
  });

  test('splits Q, K and V one by one where they cannot be packed (Split and Slice before opset 13)', async () => {
    const split = await checkAgainstDifferences('4d', 100, 12);
    expect(softmaxes(split)).toBe(H);
    expect(split.graph.nodes.some((n) => n.name.includes('pack_qkv'))).toBe(false);
  });

  test('leaves attention under the limit, or whose probabilities are read elsewhere, whole', () => {
    expect(softmaxes(differentiate(build('4d'), { of: 'loss', wrt: ['x'] }))).toBe(1);
    expect(
      softmaxes(differentiate(build('4d', { alsoReadP: true }), { of: 'loss', wrt: ['x'], splitAttention: 8 })),
    ).toBe(1);
    expect(softmaxes(differentiate(build('4d'), { of: 'loss', wrt: ['x'], splitAttention: 'never' }))).toBe(1);
  });
});
