import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from './ort-session.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { tensor } from '../common/tensor.ts';
import { toHalf, fromHalf } from '../common/numerics/half.ts';

const doubler = (dtype: 'float16' | 'float32') => {
  const b = new GraphBuilder();
  const x = b.input('x', dtype, [3]);
  b.output(b.op('Add', [x, x]), dtype, [3], 'y');
  return encodeModel(b.toModel(17));
};

describe('the onnxruntime session adapter', () => {
  test('passes float16 tensors in and out as IEEE half bits', async () => {
    const s = await ortSessionFactory.create(doubler('float16'));
    const out = await s.run({ x: tensor('float16', [3], Uint16Array.from([0.5, -1.25, 3], toHalf)) });
    expect(out.y.dtype).toBe('float16');
    expect(Array.from(out.y.data as Uint16Array, fromHalf)).toEqual([1, -2.5, 6]);
  });

  test('fails with device_unavailable when the CUDA provider is not installed', async () => {
    await expect(ortSessionFactory.create(doubler('float32'), { device: 'cuda' })).rejects.toMatchObject({
      code: 'device_unavailable',
    });
  });

  test('names the op and node onnxruntime has no kernel for', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.output(b.op('GroupNorm', [x], {}, { domain: 'com.microsoft', name: 'unet/gn0' }), 'float32', [4], 'y');
    const bytes = encodeModel(b.toModel(17, [{ domain: 'com.microsoft', version: 1 }]));
    await expect(ortSessionFactory.create(bytes)).rejects.toThrow(/GroupNorm/);
  });
});
