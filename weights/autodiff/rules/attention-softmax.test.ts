import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../../adapters/ort-session.ts';
import { createRng } from '../../../common/numerics/rng.ts';
import { float32 } from '../../../common/tensor.ts';
import { GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel, type Model } from '../../onnx/proto.ts';
import { differentiate } from '../differentiate.ts';
import { ValueFacts } from '../shape-infer.ts';

// Attention on [1, H, N, d] heads: P = softmax(s·Q·Kᵀ), O = P·V, L = Σ O·R (+ Σ P·R₂ when P has a second reader).
const [H, N, d] = [2, 5, 3];
const s = 1 / Math.sqrt(d);
const rng = createRng(11);
const randn = (n: number) => Array.from({ length: n }, () => rng.normal());
const R = randn(H * N * d);
const R2 = randn(H * N * N);
const at = { q: randn(H * N * d), k: randn(H * N * d), v: randn(H * N * d) };

const build = (secondReader: boolean): Model => {
  const b = new GraphBuilder();
  const [q, k, v] = ['q', 'k', 'v'].map((n) => b.input(n, 'float32', [1, H, N, d]));
  const kt = b.op('Transpose', [k], { perm: [0, 1, 3, 2] });
  const scores = b.op('Mul', [b.op('MatMul', [q, kt]), b.constF(s)]);
  const p = b.op('Softmax', [scores], { axis: -1 }, { name: 'softmax' });
  const o = b.op('MatMul', [p, v], {}, { name: 'pv' });
  let loss = b.op('ReduceSum', [b.op('Mul', [o, b.initializer('R', float32([1, H, N, d], R))])], { keepdims: 0 });
  if (secondReader) {
    const side = b.op('ReduceSum', [b.op('Mul', [p, b.initializer('R2', float32([1, H, N, N], R2))])], {
      keepdims: 0,
    });
    loss = b.op('Add', [loss, side]);
  }
  b.output(loss, 'float32', [], 'loss');
  return b.toModel(17);
};

/** The loss in float64, for central differences. */
const lossOf = (x: { q: number[]; k: number[]; v: number[] }, secondReader: boolean): number => {
  let loss = 0;
  for (let h = 0; h < H; h++)
    for (let i = 0; i < N; i++) {
      const idx = (j: number, e: number) => (h * N + j) * d + e;
      const sc = Array.from({ length: N }, (_, j) => {
        let t = 0;
        for (let e = 0; e < d; e++) t += x.q[idx(i, e)] * x.k[idx(j, e)];
        return t * s;
      });
      const mx = Math.max(...sc);
      const ex = sc.map((t) => Math.exp(t - mx));
      const z = ex.reduce((a, c) => a + c, 0);
      const p = ex.map((t) => t / z);
      for (let e = 0; e < d; e++) {
        let o = 0;
        for (let j = 0; j < N; j++) o += p[j] * x.v[idx(j, e)];
        loss += o * R[idx(i, e)];
      }
      if (secondReader) for (let j = 0; j < N; j++) loss += p[j] * R2[(h * N + i) * N + j];
    }
  return loss;
};

const centralDifferences = (name: 'q' | 'k' | 'v', secondReader: boolean) =>
  at[name].map((_, i) => {
    const eps = 1e-5;
    const shifted = (dx: number) => ({ ...at, [name]: at[name].map((t, j) => (j === i ? t + dx : t)) });
    return (lossOf(shifted(eps), secondReader) - lossOf(shifted(-eps), secondReader)) / (2 * eps);
  });

/** The last dim of what the Softmax VJP's ReduceSum sums over: d for the attention identity, N for dP·P. */
const summedWidth = (m: Model) => {
  const facts = ValueFacts.forGraph(m.graph, 17);
  const sums = m.graph.nodes.filter((n) => n.name.startsWith('softmax/grad/') && n.opType === 'ReduceSum');
  return sums.map((n) => facts.get(n.inputs[0])?.shape?.at(-1));
};

const gradients = async (m: Model) => {
  const session = await ortSessionFactory.create(encodeModel(m));
  const feeds = Object.fromEntries(Object.entries(at).map(([k, v]) => [k, float32([1, H, N, d], v)]));
  const out = await session.run(feeds);
  return { q: out.q_grad.data, k: out.k_grad.data, v: out.v_grad.data } as Record<'q' | 'k' | 'v', Float32Array>;
};

/** Sub nodes of the backward whose output is N×N per head: the Softmax VJP's dP − D when not folded. */
const squareSubs = (m: Model) => {
  const facts = ValueFacts.forGraph(m.graph, 17);
  return m.graph.nodes.filter(
    (n) => n.opType === 'Sub' && facts.get(n.outputs[0])?.shape?.slice(-2).join() === `${N},${N}`,
  ).length;
};

describe("the Softmax VJP's row sum in attention", () => {
  test('is Σ dO·O over the head width when P feeds only P·V, and the gradients match central differences', async () => {
    const m = differentiate(build(false), { of: 'loss', wrt: ['q', 'k', 'v'], recomputeAttention: 'never' });
    expect(summedWidth(m)).toEqual([d]);
    // dP − D is one product [dO | −D]·[V | 1]ᵀ: no subtraction over N×N.
    expect(squareSubs(m)).toBe(0);
    const g = await gradients(m);
    for (const name of ['q', 'k', 'v'] as const) {
      const fd = centralDifferences(name, false);
      Array.from(g[name]).forEach((x, i) => expect(x).toBeCloseTo(fd[i], 3));
    }
  });

  test('is Σ dP·P over the keys when P has another reader, and the gradients still match', async () => {
    const m = differentiate(build(true), { of: 'loss', wrt: ['q', 'k', 'v'], recomputeAttention: 'never' });
    expect(summedWidth(m)).toEqual([N]);
    expect(squareSubs(m)).toBe(1);
    const g = await gradients(m);
    for (const name of ['q', 'k', 'v'] as const) {
      const fd = centralDifferences(name, true);
      Array.from(g[name]).forEach((x, i) => expect(x).toBeCloseTo(fd[i], 3));
    }
  });

  test("scales the score VJP's two products (N×d) instead of the N×N score gradient (scale-through-matmul.ts)", async () => {
    const m = differentiate(build(false), { of: 'loss', wrt: ['q', 'k'], recomputeAttention: 'never' });
    const facts = ValueFacts.forGraph(m.graph, 17);
    const scaled = (n: Model['graph']['nodes'][number]) =>
      n.name.includes('/grad/') && n.opType === 'Mul' && n.inputs.some((i) => facts.get(i)?.value?.length === 1);
    const shapes = m.graph.nodes.filter(scaled).map((n) => facts.get(n.outputs[0])?.shape);
    expect(shapes).toEqual([
      [1, H, N, d], // dQ
      [1, H, d, N], // d(Kᵀ)
    ]);
    const g = await gradients(differentiate(build(false), { of: 'loss', wrt: ['q', 'k', 'v'] }));
    for (const name of ['q', 'k'] as const) {
      const fd = centralDifferences(name, false);
      Array.from(g[name]).forEach((x, i) => expect(x).toBeCloseTo(fd[i], 3));
    }
  });

  test('holds with the probabilities recomputed in the backward', async () => {
    const m = differentiate(build(false), { of: 'loss', wrt: ['q'], recomputeAttention: 'always' });
    expect(summedWidth(m)).toEqual([d]);
    const fd = centralDifferences('q', false);
    const out = await (await ortSessionFactory.create(encodeModel(m))).run(
      Object.fromEntries(Object.entries(at).map(([k, v]) => [k, float32([1, H, N, d], v)])),
    );
    Array.from(out.q_grad.data as Float32Array).forEach((x, i) => expect(x).toBeCloseTo(fd[i], 3));
  });
});
