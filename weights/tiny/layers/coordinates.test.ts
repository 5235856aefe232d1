import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../../onnx/builder.ts';
import { encodeModel } from '../../onnx/proto.ts';
import { makeTensorProto } from '../../onnx/tensor-proto.ts';
import { float32 } from '../../../common/tensor.ts';
import { ortSessionFactory } from '../../../adapters/ort-session.ts';
import { ParamStore } from '../params.ts';
import { layerContext } from './context.ts';
import { addCoordinates, pixelGrid } from './coordinates.ts';

const run = async (b: GraphBuilder, feeds: Record<string, ReturnType<typeof float32>>) => {
  const s = await ortSessionFactory.create(encodeModel(b.toModel(17)), { optimization: 'disabled' });
  const y = (await s.run(feeds)).y;
  return { dims: y.dims, data: [...(y.data as Float32Array)] };
};

describe('the pixel coordinates', () => {
  test('are pixel centres in (−1, 1), x across and y down, for whatever size the input has', async () => {
    const b = new GraphBuilder();
    const ctx = layerContext(b, new ParamStore(b, { seed: 0 }), 17);
    b.output(pixelGrid(ctx, 'pos', b.input('x', 'float32', ['n', 3, 'h', 'w'])), 'float32', null, 'y');
    const a = await run(b, { x: float32([2, 3, 2, 4], new Array(48).fill(7)) });
    expect(a.dims).toEqual([1, 2, 2, 4]);
    const xs = [-0.75, -0.25, 0.25, 0.75];
    const want = [...xs, ...xs, -0.5, -0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5];
    a.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    const c = await run(b, { x: float32([1, 3, 3, 1], new Array(9).fill(0)) });
    expect(c.dims).toEqual([1, 2, 3, 1]);
    [0, 0, 0, -2 / 3, 0, 2 / 3].forEach((v, i) => expect(c.data[i]).toBeCloseTo(v, 6));
  });

  test('add W·(x, y) to every batch item, the same at the same place', async () => {
    const b = new GraphBuilder();
    const ctx = layerContext(b, new ParamStore(b, { seed: 0 }), 17);
    const x = b.input('x', 'float32', ['n', 2, 'h', 'w']);
    b.output(addCoordinates(ctx, 'pos', x, x, 2), 'float32', null, 'y');
    const w = [1, 2, -3, 0.5]; // out 0 = x + 2y, out 1 = −3x + y/2
    const i = b.graph.initializers.findIndex((t) => t.name === 'pos.weight');
    b.graph.initializers[i] = makeTensorProto('pos.weight', float32([2, 2, 1, 1], w));
    const h = Array.from({ length: 2 * 2 * 2 * 2 }, (_, k) => k / 10);
    const got = await run(b, { x: float32([2, 2, 2, 2], h) });
    for (let n = 0; n < 2; n++)
      for (let o = 0; o < 2; o++)
        for (let r = 0; r < 2; r++)
          for (let q = 0; q < 2; q++) {
            const [gx, gy] = [q - 0.5, r - 0.5];
            const k = ((n * 2 + o) * 2 + r) * 2 + q;
            expect(got.data[k]).toBeCloseTo(h[k] + w[o * 2] * gx + w[o * 2 + 1] * gy, 5);
          }
  });
});
