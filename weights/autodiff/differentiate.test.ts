import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { PipelineError } from '../../common/errors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { encodeModel, type Model } from '../onnx/proto.ts';
import { float32, tensor } from '../../common/tensor.ts';
import { differentiate } from './differentiate.ts';

const run = async (m: Model, feeds: Parameters<Awaited<ReturnType<typeof ortSessionFactory.create>>['run']>[0]) =>
  (await ortSessionFactory.create(encodeModel(m))).run(feeds);

/** Forward node names that received gradient nodes (emitted nodes are named '<forward node>/grad/<Op>'). */
const differentiated = (m: Model) =>
  new Set(m.graph.nodes.filter((n) => n.name.includes('/grad/')).map((n) => n.name.split('/grad/')[0]));
const values = (t: { data: unknown }) => Array.from(t.data as Float32Array);

describe('differentiate', () => {
  test('gives VJPs only to nodes on a path from wrt to the output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 3]);
    const z = b.input('z', 'float32', ['batch', 3]);
    const t = b.op('Tanh', [x], {}, { name: 'tanh' });
    const e = b.op('Exp', [z], {}, { name: 'exp' }); // not varied: no gradient wanted for z
    const side = b.op('Sin', [x], {}, { name: 'side' }); // varied but does not reach the loss
    b.output(side, 'float32', ['batch', 3], 'side');
    const loss = b.op('ReduceSum', [b.op('Mul', [t, e], {}, { name: 'mul' })], { keepdims: 0 }, { name: 'sum' });
    b.output(loss, 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['x'] });
    expect(differentiated(m)).toEqual(new Set(['sum', 'mul', 'tanh']));
    // mul needs dA = dY·B only; dB for the non-varied z is never formed.
    expect(m.graph.nodes.filter((n) => n.name.startsWith('mul/grad/')).map((n) => n.opType)).toEqual(['Mul']);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['side', 'loss', 'x_grad']);
    const xs = [0.1, -0.4, 0.9, 1.2, 0, -2];
    const zs = [0.3, 0.2, -0.1, 0.5, 1, -1];
    const out = await run(m, { x: float32([2, 3], xs), z: float32([2, 3], zs) });
    // d/dx Σ tanh(x)·e^z = (1 − tanh²x)·e^z
    values(out.x_grad).forEach((g, i) => expect(g).toBeCloseTo((1 - Math.tanh(xs[i]) ** 2) * Math.exp(zs[i]), 5));
  });

  test('forms no gradient for an embedding table that is not differentiated (the textual inversion path)', async () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', 'int64', ['batch', 4]);
    const v = b.input('v', 'float32', [8]);
    const r = b.input('r', 'float32', ['batch', 4, 8]);
    const table = b.initializer(
      'table',
      float32(
        [1000, 8],
        Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i)),
      ),
    );
    const looked = b.op('Gather', [table, ids], {}, { name: 'lookup' });
    const isNew = b.op('Unsqueeze', [b.op('Equal', [ids, b.constI64(999)]), b.constI64([2])]);
    const embeds = b.op('Where', [isNew, v, looked], {}, { name: 'inject' });
    b.output(b.op('ReduceSum', [b.op('Mul', [embeds, r])], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['v'] });
    expect(m.graph.nodes.some((n) => n.opType === 'ScatterND')).toBe(false);
    expect(differentiated(m).has('lookup')).toBe(false);
    const rs = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i));
    const idv = [5, 999, 7, 999, 999, 1, 2, 3];
    const out = await run(m, {
      ids: tensor('int64', [2, 4], BigInt64Array.from(idv.map(BigInt))),
      v: float32([8]),
      r: float32([2, 4, 8], rs),
    });
    // dL/dv = Σ of r over the positions holding the new token
    const want = Array.from({ length: 8 }, (_, k) => idv.reduce((s, id, p) => s + (id === 999 ? rs[p * 8 + k] : 0), 0));
    values(out.v_grad).forEach((g, k) => expect(g).toBeCloseTo(want[k], 5));
  });

  test('treats integer shape paths as carrying no gradient', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 3]);
    const n = b.op('Cast', [b.op('Gather', [b.op('Shape', [x]), b.constI64(0)])], { to: 1 }); // the batch size as a float
    b.output(b.op('ReduceSum', [b.op('Mul', [b.op('Mul', [x, x]), n])], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['x'] });
    expect([...differentiated(m)].some((name) => /Shape|Gather|Cast/.test(name))).toBe(false);
    const xs = [1, 2, 3, -1, -2, 0.5];
    const out = await run(m, { x: float32([2, 3], xs) });
    values(out.x_grad).forEach((g, i) => expect(g).toBeCloseTo(2 * xs[i] * 2, 5)); // d/dx n·Σx² = 2nx, n = 2
  });

  test('promotes an initializer named in wrt to an input and returns its gradient', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.initializer('W', float32([3, 2], [1, 2, 3, 4, 5, 6]));
    b.output(b.op('ReduceSum', [b.op('MatMul', [x, w])], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['W'] });
    expect(m.graph.initializers.some((t) => t.name === 'W')).toBe(false);
    expect(m.graph.inputs.map((i) => i.name)).toEqual(['x', 'W']);
    const out = await run(m, { x: float32([2, 3], [1, 2, 3, 4, 5, 6]), W: float32([3, 2], [1, 2, 3, 4, 5, 6]) });
    expect(values(out.W_grad)).toEqual([5, 5, 7, 7, 9, 9]); // dW[k,j] = Σᵢ x[i,k]
  });

  test('exposes kept intermediates and a zero gradient for an input the output does not depend on', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.input('unused', 'float32', [3]);
    const h = b.op('Exp', [x], {}, { outputs: ['h'] });
    b.output(b.op('ReduceSum', [h], { keepdims: 0 }), 'float32', [], 'loss');
    const m = differentiate(b.toModel(17), { of: 'loss', wrt: ['x', 'unused'], keep: ['h'] });
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['loss', 'h', 'x_grad', 'unused_grad']);
    const out = await run(m, { x: float32([2], [0, 1]), unused: float32([3], [1, 2, 3]) });
    expect(values(out.unused_grad)).toEqual([0, 0, 0]);
    expect(values(out.x_grad).map((v) => +v.toFixed(5))).toEqual([1, +Math.E.toFixed(5)]);
    expect(values(out.h)).toEqual(values(out.x_grad));
  });

  test('recomputes σ(x) of a SiLU in the backward instead of keeping it, unless told not to', async () => {
    const build = () => {
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', ['batch', 4]);
      const s = b.op('Sigmoid', [x], {}, { name: 'sigmoid', outputs: ['s'] });
      const y = b.op('Mul', [x, s], {}, { name: 'silu' });
      b.output(b.op('ReduceSum', [b.op('Mul', [y, y])], { keepdims: 0 }), 'float32', [], 'loss');
      return b.toModel(17);
    };
    const readersOfS = (m: Model) => m.graph.nodes.filter((n) => n.inputs.includes('s')).map((n) => n.name);
    const lean = differentiate(build(), { of: 'loss', wrt: ['x'] });
    expect(readersOfS(lean)).toEqual(['silu']); // the forward value dies with its forward use
    expect(readersOfS(differentiate(build(), { of: 'loss', wrt: ['x'], recompute: false })).length).toBeGreaterThan(1);
    const xs = [0.5, -1, 2, 0.1, -0.3, 1.5, -2, 0];
    const out = await run(lean, { x: float32([2, 4], xs) });
    // L = Σ (x·σ(x))², dL/dx = 2·x·σ·(σ + x·σ·(1 − σ))
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    values(out.x_grad).forEach((g, i) => {
      const [v, s] = [xs[i], sig(xs[i])];
      expect(g).toBeCloseTo(2 * v * s * (s + v * s * (1 - s)), 5);
    });
  });

  test('names the op, the node and the path when a node on the path has no rule', () => {
    const b = new GraphBuilder();
    const x = b.input('inputs_embeds', 'float32', [2, 3]);
    const h = b.op('Tanh', [x]);
    const m = b.op('Unique', [h], {}, { name: 'unet/mid/attn1/unique' });
    b.op('Unique', [b.input('other', 'float32', [2, 2])], {}, { name: 'off/path' });
    b.output(b.op('ReduceSum', [m], { keepdims: 0 }), 'float32', [], 'loss');
    const err = (() => {
      try {
        differentiate(b.toModel(17), { of: 'loss', wrt: ['inputs_embeds'] });
      } catch (e) {
        return e as PipelineError;
      }
    })();
    expect(err).toBeInstanceOf(PipelineError);
    expect(err!.code).toBe('unsupported_op');
    expect(err!.message).toContain(
      "no gradient rule for Unique (node 'unet/mid/attn1/unique'), which lies on the path from 'inputs_embeds' to 'loss'",
    );
    expect(err!.message).toContain('no derivative exists');
  });

  test('rejects a fused onnxruntime op on the path, naming its domain', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const y = b.op(
      'FusedMatMul',
      [x, b.initializer('w', float32([3, 3]))],
      {},
      { name: 'fused', domain: 'com.microsoft' },
    );
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }), 'float32', [], 'loss');
    expect(() =>
      differentiate(b.toModel(17, [{ domain: 'com.microsoft', version: 1 }]), { of: 'loss', wrt: ['x'] }),
    ).toThrow("no gradient rule for com.microsoft::FusedMatMul (node 'fused')");
  });

  test('rejects names that are not inputs or initializers', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.output(b.op('ReduceSum', [x], { keepdims: 0 }), 'float32', [], 'loss');
    expect(() => differentiate(b.toModel(17), { of: 'loss', wrt: ['nope'] })).toThrow(
      "'nope' is neither a graph input nor an initializer",
    );
  });
});
