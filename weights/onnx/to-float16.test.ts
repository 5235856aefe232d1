import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { floatArray, fromHalf, halfArray } from '../../common/numerics/half.ts';
import { tensor } from '../../common/tensor.ts';
import { f, GraphBuilder } from './builder.ts';
import { DataType, decodeModel, encodeModel, type Model } from './proto.ts';
import { makeExternalTensorProto, readTensorProto } from './tensor-proto.ts';
import { toFloat16 } from './to-float16.ts';

/**
 * A float32 graph with each case the converter must handle: a Resize whose scales must stay float32, a Range
 * (no float16 in its schema), Cast(int → float), ConstantOfShape with its default value, Constant value_float,
 * a −1e9 mask constant (beyond half's range), an int64 input and an external weight.
 */
const weight = Float32Array.of(0.5, -1.25, 2, 0.75);
const build = (): Model => {
  const b = new GraphBuilder();
  b.input('x', 'float32', [1, 2, 2, 2]);
  b.input('ids', 'int64', [4]);
  const up = b.op('Resize', ['x', '', b.constF([1, 1, 2, 2], [4], 'scales')], { mode: 'nearest' });
  const r = b.op('Range', [
    b.constF(0, undefined, 'start'),
    b.constF(4, undefined, 'limit'),
    b.constF(1, undefined, 'delta'),
  ]);
  const fromIds = b.op('Cast', ['ids'], { to: DataType.FLOAT });
  const zeros = b.op('ConstantOfShape', [b.constI64([4], [1], 'shape')]);
  const half = b.op('Constant', [], { value_float: f(0.5) });
  b.graph.initializers.push(makeExternalTensorProto('w', 'float32', [4], 'w.bin', 0, 16));
  let y = b.op('Mul', [up, r]);
  y = b.op('Add', [y, b.op('Mul', [fromIds, half])]);
  y = b.op('Add', [y, zeros]);
  y = b.op('Mul', [y, 'w']);
  y = b.op('Max', [y, b.constF(-1e9, undefined, 'mask')]);
  // Scales computed in the graph (a Constant node, float16 after conversion) need a Cast back to float32.
  const same = b.op('Constant', [], { value: tensor('float32', [4], Float32Array.of(1, 1, 1, 1)) });
  y = b.op('Resize', [y, '', same], { mode: 'nearest' }, { name: 'resize_same' });
  b.output(y, 'float32', [1, 2, 4, 4], 'y');
  return b.toModel(17);
};
const external = (_loc: string, offset: number, length: number) =>
  new Uint8Array(weight.buffer).slice(offset, offset + length);
const x = Float32Array.from({ length: 8 }, (_, i) => (i - 3) * 0.37);
const ids = BigInt64Array.of(3n, 1n, 4n, 1n);

describe('the float16 converter', () => {
  const source = build();
  const { model, externalData } = toFloat16(source, { external, externalName: 'w16.bin' });

  test('makes float initializers, inputs and outputs float16 and leaves int64 ones and required float32 inputs', () => {
    const g = model.graph;
    const type = (n: string) => g.initializers.find((t) => t.name === n)?.dataType;
    expect([type('w'), type('mask'), type('start')]).toEqual([DataType.FLOAT16, DataType.FLOAT16, DataType.FLOAT16]);
    expect(type('shape')).toBe(DataType.INT64);
    expect(g.inputs.map((i) => i.type?.elemType)).toEqual([DataType.FLOAT16, DataType.INT64]);
    expect(g.outputs[0].type?.elemType).toBe(DataType.FLOAT16);
    // Resize's scales stay a float32 initializer, read as they are; Range runs in float32 between Casts.
    expect(type('scales')).toBe(DataType.FLOAT);
    expect(g.nodes.find((n) => n.opType === 'Resize')!.inputs[2]).toBe('scales');
    const computed = g.nodes.find((n) => n.name === 'resize_same')!;
    const producer = g.nodes.find((n) => n.outputs[0] === computed.inputs[2])!;
    expect([producer.opType, producer.attributes[0].i]).toEqual(['Cast', DataType.FLOAT]);
    const range = g.nodes.find((n) => n.opType === 'Range')!;
    expect(range.inputs.every((v) => g.nodes.find((n) => n.outputs[0] === v)?.opType === 'Cast')).toBe(true);
    // −1e9 is clamped to half's largest finite magnitude, not turned into −inf.
    expect(fromHalf((readTensorProto(g.initializers.find((t) => t.name === 'mask')!).data as Uint16Array)[0])).toBe(
      -65504,
    );
  });

  test('writes external weights to the new external file, in float16', () => {
    const w = model.graph.initializers.find((t) => t.name === 'w')!;
    expect(w.external?.find((e) => e.key === 'location')?.value).toBe('w16.bin');
    const back = readTensorProto(w, (_l, o, n) => externalData!.slice(o, o + n));
    expect(Array.from(floatArray(back.data as Uint16Array))).toEqual(Array.from(weight));
  });

  test('computes what the float32 graph computes, to half precision', async () => {
    const inline = (m: Model, data: Uint8Array) => ({
      ...m,
      graph: {
        ...m.graph,
        initializers: m.graph.initializers.map((t) => (t.external ? { ...t, ...inlineOf(t, data) } : t)),
      },
    });
    const s32 = await ortSessionFactory.create(encodeModel(inline(source, new Uint8Array(weight.buffer))));
    const s16 = await ortSessionFactory.create(encodeModel(inline(model, externalData!)));
    const y32 = (await s32.run({ x: tensor('float32', [1, 2, 2, 2], x), ids: tensor('int64', [4], ids) })).y
      .data as Float32Array;
    const out16 = (await s16.run({ x: tensor('float16', [1, 2, 2, 2], halfArray(x)), ids: tensor('int64', [4], ids) }))
      .y;
    expect(out16.dtype).toBe('float16');
    const y16 = floatArray(out16.data as Uint16Array);
    const err = Math.hypot(...y16.map((v, i) => v - y32[i])) / Math.hypot(...y32);
    expect(err).toBeGreaterThan(0); // half rounding is there…
    expect(err).toBeLessThan(2e-3); // …at the size of a few roundings (2⁻¹¹ ≈ 4.9e-4 each)
  });

  test('keeps named float inputs float32, cast to float16 inside the graph', () => {
    const kept = toFloat16(source, { external, keepInputs: ['x'] }).model.graph;
    expect(kept.inputs.map((i) => i.type?.elemType)).toEqual([DataType.FLOAT, DataType.INT64]);
    const cast = kept.nodes.find((n) => n.inputs[0] === 'x')!;
    expect(cast.opType).toBe('Cast');
    expect(cast.attributes[0].i).toBe(DataType.FLOAT16);
    expect(kept.nodes.some((n) => n.opType !== 'Cast' && n.inputs.includes('x'))).toBe(false);
  });
});

/** The TensorProto of an external initializer with its data inline (for loading from memory). */
const inlineOf = (t: Model['graph']['initializers'][number], data: Uint8Array) => {
  const v = readTensorProto(t, (_l, o, n) => data.slice(o, o + n));
  const b = new GraphBuilder();
  b.initializer(t.name, v);
  return decodeModel(encodeModel(b.toModel())).graph.initializers[0];
};
