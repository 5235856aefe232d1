import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel, type Graph } from '../onnx/proto.ts';
import { makeTensorProto } from '../onnx/tensor-proto.ts';
import { differentiate } from './differentiate.ts';
import { checkNodeTest } from './node-test-check.ts';

/** A node-test case (model and input bytes) from a built model and its feeds, for checkNodeTest. */
const asCase = (name: string, b: GraphBuilder, opset: number, feeds: [string, Tensor][]) => ({
  name,
  model: encodeModel(b.toModel(opset)),
  inputs: feeds.map(([n, t]) => makeTensorProto(n, t).bytes),
});
const f32 = (dims: number[], v: number[]) => tensor('float32', dims, Float32Array.from(v));

/** Loop body: y ← sin(y)·w with w read from outside by name; per step z = y²; continue while iter < 2. */
const earlyExitBody = (): Graph => {
  const g = new GraphBuilder();
  const [iter, , y] = [g.input('iter', 'int64', []), g.input('cond_in', 'bool', []), g.input('y_in', 'float32', [2])];
  const next = g.op('Mul', [g.op('Sin', [y]), 'w'], {}, { outputs: ['y_out'] });
  g.op('Less', [iter, g.constI64(2)], {}, { outputs: ['cond_out'] });
  g.op('Mul', [next, next], {}, { outputs: ['z'] });
  g.output('cond_out', 'bool', []);
  g.output('y_out', 'float32', [2]);
  g.output('z', 'float32', null);
  return g.graph;
};

/**
 * A Scan inside a Scan's body: the outer step t = tanh(s + xₜ) feeds an inner Scan over xₜ's two entries,
 * u ← u·xₜ[i]·w, with w read by name from the top graph two scopes up; s ← u.
 */
const nestedScanBody = (): Graph => {
  const inner = new GraphBuilder();
  inner.input('u_in', 'float32', [2]);
  inner.input('piece', 'float32', [1]);
  inner.op('Mul', [inner.op('Mul', ['u_in', 'piece']), 'w'], {}, { outputs: ['u_out'] });
  inner.output('u_out', 'float32', [2]);
  const g = new GraphBuilder();
  g.input('s_in', 'float32', [2]);
  g.input('x_in', 'float32', [2]);
  const t = g.op('Tanh', [g.op('Add', ['s_in', 'x_in'])]);
  const pieces = g.op('Reshape', ['x_in', g.constI64([2, 1])]);
  g.opN('Scan', [t, pieces], 1, { body: inner.graph, num_scan_inputs: 1 }, { outputs: ['s_out'] });
  g.op('Identity', ['s_out'], {}, { outputs: ['z'] });
  g.output('s_out', 'float32', [2]);
  g.output('z', 'float32', [2]);
  return g.graph;
};

/**
 * Scan-8 body (per batch element): s ← tanh(s·w + aₜ), zₜ = s·bₜ, with w read by name from outside; a is scanned
 * forward and b in reverse.
 */
const scan8Body = (): Graph => {
  const g = new GraphBuilder();
  g.input('s_in', 'float32', [2]);
  g.input('a_t', 'float32', [2]);
  g.input('b_t', 'float32', [2]);
  g.op('Tanh', [g.op('Add', [g.op('Mul', ['s_in', 'w']), 'a_t'])], {}, { outputs: ['s_out'] });
  g.op('Mul', ['s_out', 'b_t'], {}, { outputs: ['z_t'] });
  g.output('s_out', 'float32', [2]);
  g.output('z_t', 'float32', [2]);
  return g.graph;
};

/** The opset-8 Scan over a batch of 2 (time on axis 1), with `lens` as its sequence_lens ('' for none). */
const scan8Case = (name: string, lens?: number[]) => {
  const b = new GraphBuilder();
  b.input('s', 'float32', [2, 2]);
  b.input('a', 'float32', [2, 3, 2]);
  b.input('bb', 'float32', [2, 3, 2]);
  b.input('w', 'float32', [2]);
  const seq = lens ? b.constI64(lens, [2], 'lens') : '';
  const [sf, zs] = b.opN('Scan', [seq, 's', 'a', 'bb'], 2, {
    body: scan8Body(),
    num_scan_inputs: 2,
    directions: [0, 1],
  });
  b.output(sf, 'float32', [2, 2]);
  b.output(zs, 'float32', [2, 3, 2]);
  return asCase(name, b, 8, [
    ['s', f32([2, 2], [0.3, -0.6, 0.1, 0.5])],
    ['a', f32([2, 3, 2], [0.9, -0.4, 1.2, 0.5, -0.8, 0.7, 0.2, 0.3, -1.1, 0.6, 0.4, -0.2])],
    ['bb', f32([2, 3, 2], [1.5, -0.7, 0.8, 1.1, -0.3, 0.9, -1.2, 0.4, 0.6, -0.5, 1.3, 0.2])],
    ['w', f32([2], [1.1, 0.8])],
  ]);
};

describe('gradients through subgraphs and piecewise-constant ops', () => {
  test('an opset-8 Scan over a batch of 2, one input reversed, its body reading a differentiated value, passes the check', async () => {
    const o = await checkNodeTest(ortSessionFactory, scan8Case('scan8_batch'));
    expect(o).toMatchObject({ status: 'pass', precision: 'float64' });
  });

  test('an opset-8 Scan whose sequence_lens stop one batch element after 1 of 3 steps passes the check', async () => {
    const o = await checkNodeTest(ortSessionFactory, scan8Case('scan8_lens', [3, 1]));
    expect(o).toMatchObject({ status: 'pass', precision: 'float64' });
  });

  test('an opset-8 Scan with a dynamic batch and time, read only through its scan output, passes the check', async () => {
    const b = new GraphBuilder();
    b.input('s', 'float32', ['B', 2]);
    b.input('a', 'float32', ['B', 'T', 2]);
    b.input('bb', 'float32', ['B', 'T', 2]);
    b.input('w', 'float32', [2]);
    const attrs = { body: scan8Body(), num_scan_inputs: 2, directions: [1, 0] };
    const [, zs] = b.opN('Scan', [b.constI64([2, 3], [2], 'lens'), 's', 'a', 'bb'], 2, attrs);
    b.output(zs, 'float32', ['B', 'T', 2]);
    const { inputs } = scan8Case('feeds');
    const o = await checkNodeTest(ortSessionFactory, { ...asCase('scan8_dynamic', b, 8, []), inputs });
    expect(o).toMatchObject({ status: 'pass', precision: 'float64' });
  });

  test("an opset-8 Scan is refused, said so, when its body's gradient needs a later opset (Gather's: 16)", () => {
    const g = new GraphBuilder();
    g.input('s_in', 'float32', [2]);
    g.input('a_t', 'float32', [2]);
    g.op('Add', [g.op('Gather', ['s_in', g.constI64([1, 0], [2])], { axis: 0 }), 'a_t'], {}, { outputs: ['s_out'] });
    g.output('s_out', 'float32', [2]);
    const b = new GraphBuilder();
    b.input('s', 'float32', [1, 2]);
    b.input('a', 'float32', [1, 3, 2]);
    const [sf] = b.opN('Scan', ['', 's', 'a'], 1, { body: g.graph, num_scan_inputs: 1 });
    b.output(b.op('ReduceSum', [sf], { keepdims: 0 }), 'float32', [], 'loss');
    expect(() => differentiate(b.toModel(8), { of: 'loss', wrt: ['s', 'a'] })).toThrow(
      /Scan at opset 8 when the gradient needs opset 16/,
    );
  });

  test('a Scan nested in a Scan body, reading a differentiated value two scopes up, passes the check', async () => {
    const b = new GraphBuilder();
    b.input('s', 'float32', [2]);
    b.input('x', 'float32', [3, 2]);
    b.input('w', 'float32', [2]);
    const [sf, zs] = b.opN('Scan', ['s', 'x'], 2, { body: nestedScanBody(), num_scan_inputs: 1 });
    b.output(sf, 'float32', [2]);
    b.output(zs, 'float32', [3, 2]);
    const o = await checkNodeTest(
      ortSessionFactory,
      asCase('nested_scan', b, 13, [
        ['s', f32([2], [0.3, -0.6])],
        ['x', f32([3, 2], [0.9, -0.4, 1.2, 0.5, -0.8, 0.7])],
        ['w', f32([2], [1.1, 0.8])],
      ]),
    );
    expect(o).toMatchObject({ status: 'pass' });
  });

  test('a Loop that its condition stops after 3 of 10 steps, reading a differentiated value by name, passes the check', async () => {
    const b = new GraphBuilder();
    b.input('y', 'float32', [2]);
    b.input('w', 'float32', [2]);
    const [yf, zs] = b.opN(
      'Loop',
      [b.constI64(10), b.initializer('go', tensor('bool', [], Uint8Array.of(1))), 'y'],
      2,
      {
        body: earlyExitBody(),
      },
    );
    b.output(yf, 'float32', [2]);
    b.output(zs, 'float32', null);
    const o = await checkNodeTest(
      ortSessionFactory,
      asCase('loop_early_exit', b, 13, [
        ['y', f32([2], [0.4, -1.1])],
        ['w', f32([2], [1.3, 0.7])],
      ]),
    );
    expect(o).toMatchObject({ status: 'pass' });
  });

  test("a Loop that runs no step passes its final state's gradient straight to the initial one", async () => {
    const b = new GraphBuilder();
    b.input('y', 'float32', [2]);
    b.input('w', 'float32', [2]);
    const [yf] = b.opN('Loop', [b.constI64(0), '', 'y'], 2, { body: earlyExitBody() });
    b.output(b.op('Mul', [yf, 'w']), 'float32', [2], 'out');
    const o = await checkNodeTest(
      ortSessionFactory,
      asCase('loop_no_step', b, 13, [
        ['y', f32([2], [0.4, -1.1])],
        ['w', f32([2], [1.3, 0.7])],
      ]),
    );
    expect(o).toMatchObject({ status: 'pass' });
  });

  test('QuantizeLinear → DequantizeLinear passes zero to X (its true derivative) and Σ dY·q to the scale', async () => {
    // x at multiples of the scale: every finite-difference step stays between two rounding jumps.
    const b = new GraphBuilder();
    b.input('x', 'float32', [2, 3]);
    b.input('s', 'float32', []);
    const q = b.op('QuantizeLinear', [
      'x',
      b.initializer('s0', f32([], [0.25])),
      b.initializer('zp', tensor('int8', [], Int8Array.of(0))),
    ]);
    b.output(b.op('DequantizeLinear', [q, 's', 'zp']), 'float32', [2, 3], 'y');
    const x = f32([2, 3], [0.5, -0.75, 1, 0, -0.25, 1.25]);
    const o = await checkNodeTest(
      ortSessionFactory,
      asCase('fake_quant', b, 13, [
        ['x', x],
        ['s', f32([], [0.25])],
      ]),
    );
    expect(o).toMatchObject({ status: 'pass' });
    // L = Σ y: dL/dx is exactly 0, dL/ds = Σ q = Σ round(x / 0.25).
    b.graph.outputs = [];
    b.output(b.op('ReduceSum', ['y'], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(13), { of: 'loss', wrt: ['x', 's'] });
    const s = await ortSessionFactory.create(encodeModel(m));
    const out = await s.run({ x, s: f32([], [0.5]) });
    await s.release();
    expect(Array.from(out.x_grad.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out.s_grad.data[0]).toBeCloseTo(2 - 3 + 4 + 0 - 1 + 5, 5);
    expect(m.graph.nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
  });
});
