import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel, type Model } from '../onnx/proto.ts';
import { float32 } from '../../common/tensor.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { differentiate } from './differentiate.ts';
import type { GradOptions } from './grad-emitter.ts';

// Self-attention the way torch.onnx / weights/tiny write it, with a key-padding bias:
//   q, k, v = x·Wq, x·Wk, x·Wv (split into H heads of d), S = s·q·kᵀ + bias, P = softmax(S), o = P·v,
//   L = Σ o·R.
const [N, C, H] = [6, 4, 2];
const d = C / H;
const scale = 1 / Math.sqrt(d);
const r = createRng(7);
const randn = (n: number) => Array.from({ length: n }, () => r.normal());
const W = { q: randn(C * C), k: randn(C * C), v: randn(C * C) };
const R = randn(N * C);
const xs = randn(N * C);
const bias = [0, 0, -1, 0.5, 0, -30]; // the last key mostly masked

const build = (n = N, heads = H, dh = d): Model => {
  const c = heads * dh;
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [1, n, c]);
  const kb = b.input('key_bias', 'float32', [1, 1, 1, n]);
  const w = (name: string, vals: number[]) =>
    b.initializer(name, float32([c, c], vals.length === c * c ? vals : new Array(c * c).fill(0.01)));
  const split = b.constI64([0, -1, heads, dh]);
  const heads4 = (v: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [v, split])], { perm });
  const q = heads4(b.op('MatMul', [x, w('Wq', W.q)]), [0, 2, 1, 3]);
  const kt = heads4(b.op('MatMul', [x, w('Wk', W.k)]), [0, 2, 3, 1]);
  const v = heads4(b.op('MatMul', [x, w('Wv', W.v)]), [0, 2, 1, 3]);
  const s = b.op('Add', [
    b.op('Mul', [b.op('MatMul', [q, kt], {}, { name: 'scores' }), b.constF(1 / Math.sqrt(dh))]),
    kb,
  ]);
  const p = b.op('Softmax', [s], { axis: -1 }, { name: 'softmax', outputs: ['P'] });
  const o = b.op('MatMul', [p, v], {}, { name: 'pv' });
  const merged = b.op('Reshape', [b.op('Transpose', [o], { perm: [0, 2, 1, 3] }), b.constI64([0, -1, c])]);
  const rr = b.initializer('R', float32([1, n, c], R.length === n * c ? R : new Array(n * c).fill(1)));
  b.output(b.op('ReduceSum', [b.op('Mul', [merged, rr])], { keepdims: 0 }), 'float32', [], 'loss');
  return b.toModel(17);
};

/** The same loss in float64, for central differences. */
const lossOf = (x: number[]): number => {
  const proj = (w: number[]) =>
    Array.from({ length: N * C }, (_, k) => {
      const [i, j] = [Math.floor(k / C), k % C];
      let t = 0;
      for (let m = 0; m < C; m++) t += x[i * C + m] * w[m * C + j];
      return t;
    });
  const [q, k, v] = [proj(W.q), proj(W.k), proj(W.v)];
  let loss = 0;
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      const s = Array.from({ length: N }, (_, j) => {
        let t = 0;
        for (let e = 0; e < d; e++) t += q[i * C + h * d + e] * k[j * C + h * d + e];
        return t * scale + bias[j];
      });
      const mx = Math.max(...s);
      const ex = s.map((t) => Math.exp(t - mx));
      const z = ex.reduce((a, b) => a + b, 0);
      for (let e = 0; e < d; e++) {
        let o = 0;
        for (let j = 0; j < N; j++) o += (ex[j] / z) * v[j * C + h * d + e];
        loss += o * R[i * C + h * d + e];
      }
    }
  }
  return loss;
};

const gradOf = async (opts: GradOptions) => {
  const m = differentiate(build(), { of: 'loss', wrt: ['x'], ...opts });
  const s = await ortSessionFactory.create(encodeModel(m));
  const out = await s.run({ x: float32([1, N, C], xs), key_bias: float32([1, 1, 1, N], bias) });
  return { m, grad: Array.from(out.x_grad.data as Float32Array) };
};

const readersOf = (m: Model, v: string) => m.graph.nodes.filter((n) => n.inputs.includes(v));
const relL2 = (a: number[], b: number[]) =>
  Math.sqrt(a.reduce((t, x, i) => t + (x - b[i]) ** 2, 0)) /
  Math.max(1e-12, Math.sqrt(b.reduce((t, x) => t + x * x, 0)));

describe('attention recomputation', () => {
  test("with 'always', P is read by the forward alone and the gradient matches keeping P and central differences", async () => {
    const re = await gradOf({ recomputeAttention: 'always' });
    const keep = await gradOf({ recomputeAttention: 'never' });
    expect(readersOf(re.m, 'P').map((n) => n.name)).toEqual(['pv']);
    expect(readersOf(keep.m, 'P').length).toBeGreaterThan(1);
    // The recompute: one more score MatMul and Softmax, the MatMul reading Q + 0·(a cotangent).
    const ops = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;
    expect(ops(re.m, 'Softmax')).toBe(2);
    const redoMm = re.m.graph.nodes.find((n) => n.opType === 'MatMul' && n.name.startsWith('scores/recompute'))!;
    const anchor = re.m.graph.nodes.find((n) => n.outputs.includes(redoMm.inputs[0]))!;
    expect(anchor.opType).toBe('Add');
    expect(relL2(re.grad, keep.grad)).toBeLessThan(1e-6);
    const eps = 1e-4;
    const numeric = xs.map((_, k) => {
      const [p, m] = [[...xs], [...xs]];
      p[k] += eps;
      m[k] -= eps;
      return (lossOf(p) - lossOf(m)) / (2 * eps);
    });
    expect(relL2(re.grad, numeric)).toBeLessThan(1e-4);
  });

  test("'auto' leaves small score matrices alone and recomputes 1024×1024 ones", () => {
    const pReaders = (m: Model) => readersOf(m, 'P').length;
    expect(pReaders(differentiate(build(), { of: 'loss', wrt: ['x'] }))).toBeGreaterThan(1);
    // One head of 1024 queries: P is 4 MiB, Q and K 8 KiB each. Built, not run.
    expect(pReaders(differentiate(build(1024, 1, 2), { of: 'loss', wrt: ['x'] }))).toBe(1);
    expect(
      pReaders(differentiate(build(1024, 1, 2), { of: 'loss', wrt: ['x'], recomputeAttention: 'never' })),
    ).toBeGreaterThan(1);
  });

  test('onnxruntime runs the recomputed scores after the forward has finished, not when Q and K exist', async () => {
    // Three stacked attention layers. onnxruntime's default order (a depth-first post-order from the outputs)
    // would run an unanchored recompute right after its Q and K, in the middle of the forward.
    const [n, c, heads] = [16, 4, 2];
    const b = new GraphBuilder();
    let x = b.input('x', 'float32', [1, n, c]);
    const split = b.constI64([0, -1, heads, c / heads]);
    for (let l = 0; l < 3; l++) {
      const w = (nm: string) =>
        b.initializer(
          `${nm}${l}`,
          float32(
            [c, c],
            Array.from({ length: c * c }, (_, i) => Math.sin(i + l)),
          ),
        );
      const h4 = (v: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [v, split])], { perm });
      const q = h4(b.op('MatMul', [x, w('Wq')]), [0, 2, 1, 3]);
      const kt = h4(b.op('MatMul', [x, w('Wk')]), [0, 2, 3, 1]);
      const v = h4(b.op('MatMul', [x, w('Wv')]), [0, 2, 1, 3]);
      const p = b.op(
        'Softmax',
        [b.op('MatMul', [q, kt], {}, { name: `L${l}/scores` })],
        { axis: -1 },
        { name: `L${l}/softmax` },
      );
      const o = b.op('Reshape', [
        b.op('Transpose', [b.op('MatMul', [p, v])], { perm: [0, 2, 1, 3] }),
        b.constI64([0, -1, c]),
      ]);
      x = b.op('Add', [x, b.op('MatMul', [o, w('Wo')])], {}, { name: `L${l}/residual` });
    }
    b.output(b.op('ReduceSum', [b.op('Mul', [x, x])], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['x'], recomputeAttention: 'always' });
    const dir = mkdtempSync(join(tmpdir(), 'remat-order-'));
    try {
      const s = await ort.InferenceSession.create(encodeModel(m), {
        enableProfiling: true,
        profileFilePrefix: join(dir, 'p'),
      });
      await s.run({
        x: new ort.Tensor(
          'float32',
          Float32Array.from({ length: n * c }, (_, i) => Math.cos(i)),
          [1, n, c],
        ),
      });
      s.endProfiling();
      const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!);
      const order = (JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string }[])
        .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
        .map((e) => e.name);
      const at = (re: RegExp) => order.findIndex((name) => re.test(name));
      const lastForward = at(/^L2\/residual/);
      expect(lastForward).toBeGreaterThan(0);
      for (let l = 0; l < 3; l++) expect(at(new RegExp(`^L${l}/softmax/recompute`))).toBeGreaterThan(lastForward);
      await s.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
