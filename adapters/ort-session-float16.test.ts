import { describe, expect, test } from 'bun:test';
import { halfArray } from '../common/numerics/half.ts';
import { tensor } from '../common/tensor.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { ortSessionFactory } from './ort-session.ts';

/** One float16 ScatterND(reduction='add'): a kernel onnxruntime's CPU provider registers but refuses at run time. */
const scatterAdd = () => {
  const b = new GraphBuilder();
  b.input('data', 'float16', [4, 3]);
  b.input('updates', 'float16', [1, 3]);
  const y = b.op(
    'ScatterND',
    ['data', b.constI64([2], [1, 1], 'idx'), 'updates'],
    { reduction: 'add' },
    { name: 'sum/rows' },
  );
  b.output(y, 'float16', [4, 3], 'y');
  return encodeModel(b.toModel(17));
};

describe('float16 on the CPU provider', () => {
  test('a float16 op the CPU refuses at run time is unsupported_op naming node, op and float16', async () => {
    const s = await ortSessionFactory.create(scatterAdd());
    const err = await s
      .run({
        data: tensor('float16', [4, 3], halfArray(new Float32Array(12))),
        updates: tensor('float16', [1, 3], halfArray(Float32Array.of(1, 2, 3))),
      })
      .catch((e) => e);
    expect(err).toMatchObject({
      code: 'unsupported_op',
      details: { node: 'sum/rows', op: 'ScatterND', float16: true },
    });
    expect(err.message).toContain("cannot run ScatterND (node 'sum/rows') in float16");
    expect(err.message).toContain('--device cuda');
  });

  test('a float16 op without a CPU kernel runs anyway: onnxruntime computes it in float32 between Casts', async () => {
    const b = new GraphBuilder();
    b.input('x', 'float16', [2, 2]);
    b.input('w', 'float16', [2, 2]);
    b.output(b.op('MatMul', ['x', 'w']), 'float16', [2, 2], 'y');
    const s = await ortSessionFactory.create(encodeModel(b.toModel(17)));
    const out = await s.run({
      x: tensor('float16', [2, 2], halfArray(Float32Array.of(1, 2, 3, 4))),
      w: tensor('float16', [2, 2], halfArray(Float32Array.of(0.5, 0, 0, 0.25))),
    });
    expect(out.y.dtype).toBe('float16');
    expect(Array.from(out.y.data as Uint16Array)).toEqual(Array.from(halfArray(Float32Array.of(0.5, 0.5, 1.5, 1))));
  });
});
