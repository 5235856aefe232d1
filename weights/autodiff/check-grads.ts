/**
 * JAX-style gradient checking for one ONNX op: build a one-node model, reduce its outputs to a scalar
 * L = Σₖ Σ yₖ·rₖ with fixed random rₖ, differentiate it, and compare the gradients onnxruntime computes with
 * central differences of the forward (sums in float64). Used by the rule table tests; takes the session factory
 * as an argument so it stays free of any runtime.
 */
import { createRng, type Rng } from '../../common/numerics/rng.ts';
import type { Dim } from '../onnx/proto.ts';
import { DataType, encodeModel } from '../onnx/proto.ts';
import { GraphBuilder, type AttrValue } from '../onnx/builder.ts';
import type { SessionFactory } from '../session.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { differentiate } from './differentiate.ts';
import type { GradOptions } from './grad-emitter.ts';

/** One input of the op under test. */
export interface CaseInput {
  /** Concrete dims fed at run time. */
  dims: number[];
  /** Declared dims (symbols for dynamic axes); defaults to `dims`. */
  decl?: Dim[];
  /** wrt: differentiated input (default) · input: fed, not differentiated · const: an initializer with `values`
   * · param: a random initializer differentiated with respect to (the initializer path). */
  kind?: 'wrt' | 'input' | 'const' | 'param';
  /** Element type of a const, or int64 for an 'input' fed at run time (default float32). */
  dtype?: 'float32' | 'int64' | 'int32' | 'bool';
  values?: number[];
  /** normal: N(0,1) · positive: U(0.5, 2) · away: N(0,1) kept ≥ 0.2 from 0 (for kinks) */
  sample?: 'normal' | 'positive' | 'away';
}

/** One row of the gradient table: an op, its attributes and inputs, and how to run it. */
export interface GradCase {
  op: string;
  attrs?: Record<string, AttrValue | undefined>;
  /** The op's inputs in order; null for an absent optional input. */
  inputs: (CaseInput | null)[];
  /** Number of outputs of the node (default 1); `use` picks those summed into the loss (default all). */
  outputs?: number;
  use?: number[];
  opset?: number;
  /** Options passed to `differentiate` (choices between equivalent gradient forms). */
  options?: GradOptions;
  /** The op takes only its first input; the others are read by name from inside its subgraphs (If's branches). */
  readsByName?: boolean;
  /** Run the op in float16 (inputs cast from float32 and the outputs back). */
  half?: boolean;
  eps?: number;
}

/** The outcome for one differentiated input: relative L2 error, and both gradients for a report. */
export interface GradCheck {
  name: string;
  relL2: number;
  analytic: number[];
  numeric: number[];
}

const draw = (r: Rng, n: number, how: CaseInput['sample'] = 'normal') =>
  Array.from({ length: n }, () => {
    if (how === 'positive') return 0.5 + 1.5 * r.uniform();
    const v = r.normal();
    return how === 'away' ? Math.sign(v || 1) * (0.2 + Math.abs(v)) : v;
  });

/**
 * Fresh copies of the feeds for each run: onnxruntime's training-mode BatchNormalization writes its running
 * statistics into its mean/var input buffers, which would shift every later difference.
 */
const copies = (feeds: Record<string, Tensor>): Record<string, Tensor> =>
  Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).slice() } as Tensor]),
  );

const size = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);

const constTensor = (c: CaseInput): Tensor => {
  const v = c.values ?? [];
  if (c.dtype === 'int64') return tensor('int64', c.dims, BigInt64Array.from(v.map((x) => BigInt(x))));
  if (c.dtype === 'int32') return tensor('int32', c.dims, Int32Array.from(v));
  if (c.dtype === 'bool') return tensor('bool', c.dims, Uint8Array.from(v));
  return tensor('float32', c.dims, Float32Array.from(v));
};

/**
 * Checks the gradients of one op against central differences; returns the relative L2 error per wrt input.
 *
 * @example
 * const [r] = await checkGrads(ortSessionFactory, { op: 'Tanh', inputs: [{ dims: [2, 3] }] });
 * expect(r.relL2).toBeLessThan(1e-3);
 */
export const checkGrads = async (factory: SessionFactory, gc: GradCase, seed = 1): Promise<GradCheck[]> => {
  const r = createRng(seed);
  const int = (c: CaseInput | null) => c?.kind === 'input' && c.dtype === 'int64';
  const vals = gc.inputs.map((c) =>
    c && c.kind !== 'const' && !int(c) ? Float32Array.from(c.values ?? draw(r, size(c.dims), c.sample)) : undefined,
  );
  const wrt = gc.inputs.flatMap((c, k) => (c && c.kind !== 'const' && c.kind !== 'input' ? [`x${k}`] : []));
  const feeds: Record<string, Tensor> = {};
  gc.inputs.forEach((c, k) => c && vals[k] && (feeds[`x${k}`] = tensor('float32', c.dims, vals[k]!)));
  // An int64 'input' (axes, shapes fed at run time) is fed as given, never differentiated.
  gc.inputs.forEach(
    (c, k) =>
      int(c) &&
      (feeds[`x${k}`] = tensor('int64', c!.dims, BigInt64Array.from((c!.values ?? []).map((v) => BigInt(v))))),
  );
  const opset = gc.opset ?? 17;

  /** The op on float32 inputs, run in float16 when `half`; outputs y0, y1… in float32. */
  const build = (half: boolean, paramsAsInputs: boolean) => {
    const b = new GraphBuilder();
    const names = gc.inputs.map((c, k) => {
      if (!c) return '';
      const name = `x${k}`;
      if (c.kind === 'const') return b.initializer(name, constTensor(c));
      if (c.kind === 'param' && !paramsAsInputs) b.initializer(name, feeds[name]);
      else b.input(name, int(c) ? 'int64' : 'float32', c.decl ?? c.dims);
      return half && !int(c) ? b.op('Cast', [name], { to: DataType.FLOAT16 }) : name;
    });
    let ys = b.opN(gc.op, gc.readsByName ? names.slice(0, 1) : names, gc.outputs ?? 1, gc.attrs ?? {});
    if (half) ys = ys.map((y) => b.op('Cast', [y], { to: DataType.FLOAT }));
    const used = (gc.use ?? ys.map((_, k) => k)).map((k) => ys[k]);
    return { b, outs: used.map((y, k) => b.output(y, 'float32', null, `y${k}`)) };
  };

  // Central differences run on the float32 forward, with params as inputs so they can be fed.
  const ref = build(false, true);
  const forward = await factory.create(encodeModel(ref.b.toModel(opset)), { optimization: 'disabled' });
  const y0 = await forward.run(copies(feeds));
  const rs = ref.outs.map((o) => draw(r, y0[o].data.length));
  const loss = (out: Record<string, Tensor>) =>
    ref.outs.reduce(
      (s, o, k) => s + Array.from(out[o].data as Float32Array).reduce((a, v, i) => a + v * rs[k][i], 0),
      0,
    );

  // L = Σₖ ReduceSum(yₖ·rₖ), rₖ fed as inputs with symbolic dims so dynamic dims stay dynamic.
  const { b, outs } = build(gc.half ?? false, false);
  const gradFeeds = { ...feeds };
  const terms = outs.map((o, k) => {
    const rk = b.input(
      `r${k}`,
      'float32',
      (y0[o].dims as number[]).map((_d, j) => `r${k}_${j}`),
    );
    gradFeeds[rk] = tensor('float32', y0[o].dims, Float32Array.from(rs[k]));
    return b.op('ReduceSum', [b.op('Mul', [o, rk])], { keepdims: 0 });
  });
  b.output(terms.length === 1 ? terms[0] : b.op('Sum', terms), 'float32', [], 'loss');
  const model = differentiate(b.toModel(opset), { ...gc.options, of: 'loss', wrt });
  const grads = await (await factory.create(encodeModel(model))).run(copies(gradFeeds));

  const eps = gc.eps ?? 1e-2;
  const out: GradCheck[] = [];
  for (const name of wrt) {
    const base = feeds[name];
    const numeric: number[] = [];
    for (let i = 0; i < base.data.length; i++) {
      const at = async (delta: number) => {
        const v = Float32Array.from(base.data as Float32Array);
        v[i] += delta;
        return loss(await forward.run({ ...copies(feeds), [name]: tensor('float32', base.dims, v) }));
      };
      numeric.push(((await at(eps)) - (await at(-eps))) / (2 * eps));
    }
    const analytic = Array.from(grads[`${name}_grad`].data as Float32Array);
    const err = Math.hypot(...analytic.map((a, i) => a - numeric[i]));
    out.push({ name, relL2: err / Math.max(Math.hypot(...numeric), 1e-6), analytic, numeric });
  }
  return out;
};
