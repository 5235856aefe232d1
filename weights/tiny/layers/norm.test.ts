import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/proto.ts';
import { makeTensorProto } from '../../onnx/tensor-proto.ts';
import { float32 } from '../../../common/tensor.ts';
import { ortSessionFactory } from '../../../adapters/ort-session.ts';
import { ParamStore } from '../params.ts';
import { layerContext } from './context.ts';
import { groupNorm, layerNorm } from './norm.ts';

/** Replaces an initializer's values (the store makes norms ones/zeros; the test wants γ, β that show). */
const setInitializer = (b: GraphBuilder, name: string, dims: number[], values: number[]) => {
  const i = b.graph.initializers.findIndex((t) => t.name === name);
  b.graph.initializers[i] = makeTensorProto(name, float32(dims, values));
};

const run = async (b: GraphBuilder, feeds: Record<string, ReturnType<typeof float32>>, opset: number) => {
  const s = await ortSessionFactory.create(encodeModel(b.toModel(opset)), { optimization: 'disabled' });
  return (await s.run(feeds)).y.data as Float32Array;
};

describe('the norm layers', () => {
  test('GroupNorm written as Reshape→InstanceNormalization→Reshape→Mul→Add equals GroupNorm computed by hand', async () => {
    const [n, c, h, w, groups, eps] = [2, 6, 2, 3, 3, 1e-5];
    const x = Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 5)));
    const gamma = [0.5, -1, 2, 1.5, 0.25, 3];
    const beta = [0.1, 0.2, -0.3, 0, 1, -2];
    const b = new GraphBuilder();
    const ctx = layerContext(b, new ParamStore(b, { seed: 0 }), 17);
    b.output(groupNorm(ctx, 'gn', b.input('x', 'float32', ['n', c, 'h', 'w']), c, groups, eps), 'float32', null, 'y');
    setInitializer(b, 'gn.weight', [c, 1, 1], gamma);
    setInitializer(b, 'gn.bias', [c, 1, 1], beta);
    const got = await run(b, { x: float32([n, c, h, w], x) }, 17);

    // By hand: statistics over each (sample, group of c/groups channels × h × w), biased variance.
    const per = (c / groups) * h * w;
    const want: number[] = [];
    for (let s = 0; s < n; s++)
      for (let ch = 0; ch < c; ch++) {
        const g = Math.floor(ch / (c / groups));
        const start = s * c * h * w + g * per;
        const vals = x.slice(start, start + per);
        const mean = vals.reduce((a, v) => a + v, 0) / per;
        const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / per;
        for (let k = 0; k < h * w; k++) {
          const v = x[s * c * h * w + ch * h * w + k];
          want.push(((v - mean) / Math.sqrt(variance + eps)) * gamma[ch] + beta[ch]);
        }
      }
    expect(got.length).toBe(want.length);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
  });

  test('LayerNorm at opset 14 (decomposed) and 17 (LayerNormalization) both equal LayerNorm by hand', async () => {
    const dim = 5;
    const x = Array.from({ length: 3 * dim }, (_, i) => Math.cos(i * 0.7) * 3 + i * 0.1);
    const gamma = [1, 2, -1, 0.5, 3];
    const beta = [0, 0.5, 1, -1, 2];
    const want = [0, 1, 2].flatMap((r) => {
      const row = x.slice(r * dim, (r + 1) * dim);
      const mean = row.reduce((a, v) => a + v, 0) / dim;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / dim;
      return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[i] + beta[i]);
    });
    for (const opset of [14, 17]) {
      const b = new GraphBuilder();
      const ctx = layerContext(b, new ParamStore(b, { seed: 0 }), opset);
      b.output(layerNorm(ctx, 'ln', b.input('x', 'float32', [3, dim]), dim), 'float32', null, 'y');
      setInitializer(b, 'ln.weight', [dim], gamma);
      setInitializer(b, 'ln.bias', [dim], beta);
      const ops = b.graph.nodes.map((nd) => nd.opType);
      expect(ops.includes('LayerNormalization')).toBe(opset === 17);
      const got = await run(b, { x: float32([3, dim], x) }, opset);
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
    }
  });
});
