import { describe, expect, test } from 'bun:test';
import { GraphBuilder, f } from './builder.ts';
import { decodeModel, encodeModel } from './proto.ts';
import { readTensorProto } from './tensor-proto.ts';
import { readFields, Writer } from './wire.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { float32 } from '../../common/tensor.ts';

describe('the ONNX codec', () => {
  test('writes a model onnxruntime runs and reads back the same structure', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 3]);
    const w = b.initializer('w', float32([3, 2], [1, 2, 3, 4, 5, 6]));
    const y = b.op('MatMul', [x, w]);
    const z = b.op('LeakyRelu', [y], { alpha: f(0.5) });
    b.output(z, 'float32', ['batch', 2], 'y');
    const bytes = encodeModel(b.toModel(17));
    const s = await ortSessionFactory.create(bytes);
    const out = await s.run({ x: float32([1, 3], [1, -1, -2]) });
    // [1,-1,-2]·[[1,2],[3,4],[5,6]] = [1-3-10, 2-4-12] = [-12, -14]; LeakyRelu(0.5) halves negatives.
    expect(Array.from(out.y.data as Float32Array)).toEqual([-6, -7]);
    expect(s.inputs[0]).toEqual({ name: 'x', dtype: 'float32', shape: ['batch', 3] });
    const again = decodeModel(bytes);
    expect(again.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'LeakyRelu', 'Identity']);
    expect(again.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(Array.from(readTensorProto(again.graph.initializers[0]).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('keeps fields it does not know byte for byte through a decode and encode', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.output(b.op('Neg', [x]), 'float32', [2], 'y');
    const model = b.toModel();
    // A field number onnx.proto does not use in ModelProto (e.g. a future one): 99, string payload.
    const w = new Writer();
    w.string(99, 'from the future');
    model.unknown.push(w.finish());
    const bytes = encodeModel(model);
    const round = encodeModel(decodeModel(bytes));
    expect(round).toEqual(bytes);
    const f99 = readFields(round).find((x) => x.field === 99)!;
    expect(new TextDecoder().decode(f99.value as Uint8Array)).toBe('from the future');
  });

  test('reads negative and int64-max attribute values', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.output(b.op('Softmax', [x], { axis: -1 }), 'float32', [4], 'y');
    b.op('Slice', [x], { ends: [2 ** 63] });
    const m = decodeModel(encodeModel(b.toModel()));
    expect(m.graph.nodes[0].attributes[0].i).toBe(-1);
    expect(m.graph.nodes.find((n) => n.opType === 'Slice')!.attributes[0].ints![0]).toBe(2 ** 63);
  });
});
