import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../../adapters/ort-session.ts';
import { float32 } from '../../../common/tensor.ts';
import { f, GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/proto.ts';
import { differentiate } from '../differentiate.ts';

describe("LayerNormalization's VJP", () => {
  test("reads the forward node's Mean and InvStdDev instead of reducing X again, and matches a hand-worked gradient", async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.op(
      'LayerNormalization',
      [x, b.initializer('gamma', float32([3], [1, 2, -1])), b.initializer('beta', float32([3], [0, 0, 0]))],
      { epsilon: f(0) },
      { name: 'ln' },
    );
    b.output(
      b.op('ReduceSum', [b.op('Mul', [y, b.initializer('r', float32([2, 3], [1, 0, 0, 0, 1, 0]))])], { keepdims: 0 }),
      'float32',
      [],
      'loss',
    );
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['x'] });
    const ln = m.graph.nodes.find((n) => n.name === 'ln')!;
    expect(ln.outputs.length).toBe(3);
    const backward = m.graph.nodes.filter((n) => n.name.startsWith('ln/grad/'));
    // mean(gx̂) and mean(gx̂·x̂) only: no mean(X), no variance, no Sqrt/Reciprocal.
    expect(backward.filter((n) => n.opType === 'ReduceMean').length).toBe(2);
    expect(backward.some((n) => n.opType === 'Sqrt' || n.opType === 'Reciprocal')).toBe(false);
    expect(backward.some((n) => n.inputs.includes(ln.outputs[1]))).toBe(true);
    const xs = [1, 2, 4, -1, 0, 3];
    const out = await (await ortSessionFactory.create(encodeModel(m))).run({ x: float32([2, 3], xs) });
    // Row (1, 2, 4): μ = 7/3, σ² = 14/9, s = 3/√14; L = γ₀·x̂₀, so dL/dxⱼ = γ₀·s·(δ₀ⱼ − 1/3 − x̂₀·x̂ⱼ/3).
    const s = 3 / Math.sqrt(14);
    const xh = [1, 2, 4].map((v) => (v - 7 / 3) * s);
    const row0 = xh.map((h, j) => s * ((j === 0 ? 1 : 0) - 1 / 3 - (xh[0] * h) / 3));
    Array.from(out.x_grad.data as Float32Array)
      .slice(0, 3)
      .forEach((g, j) => expect(g).toBeCloseTo(row0[j], 5));
  });
});
