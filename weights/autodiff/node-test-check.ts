/**
 * One of ONNX's backend node tests used as a user would use `pseudoword grad`: the test's model becomes a loss
 * L = Σₖ Σ yₖ·rₖ over its float outputs (fixed random rₖ), is differentiated with respect to every float input,
 * and each gradient g is checked along a random direction v against central differences of the forward:
 * ⟨g, v⟩ ≈ (L(x + εv) − L(x − εv)) / 2ε. In float64 when onnxruntime runs both graphs in double precision
 * (ε = 1e-6, tolerance 1e-6), else in float32 (ε = 1e-3 per unit of the input's scale, tolerance 1e-2). The error
 * is |⟨g, v⟩ − difference| / (‖g‖·‖v‖): relative to the largest the directional derivative could be.
 */
import { PipelineError } from '../../common/errors.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { attr, GraphBuilder } from '../onnx/builder.ts';
import { DataType, decodeModel, decodeTensor, encodeModel, type Model, type Node } from '../onnx/proto.ts';
import { readTensorProto } from '../onnx/tensor-proto.ts';
import type { Session, SessionFactory } from '../session.ts';
import { differentiate } from './differentiate.ts';
import { directionalError } from './directional-error.ts';
import { randomOps, ruleTable } from './rule-table.ts';
import { toFloat64 } from './to-float64.ts';

/** One test folder's bytes: its model and the TensorProto files of its first data set's inputs. */
export interface NodeTestCase {
  name: string;
  model: Uint8Array;
  inputs: Uint8Array[];
}

/**
 * What happened: pass/fail (with the worst error over the inputs), refused (the autodiff said no, with its
 * message), invalid (an emitted graph onnxruntime would not load), error (loaded, then failed to run), or
 * skipped (nothing to differentiate: no float input reaches a float output, another domain, a non-tensor value).
 */
export interface NodeTestOutcome {
  name: string;
  op: string;
  status: 'pass' | 'fail' | 'refused' | 'invalid' | 'error' | 'skipped';
  precision?: 'float64' | 'float32';
  /** The largest error over the inputs, rounding noise included (the pass/fail judgement allows for that noise). */
  worst?: number;
  reason?: string;
}

/** Ops whose outputs are random draws (Dropout too, given a training_mode input). */
const random = new Set<string>(randomOps);

const floats = new Set<number>([DataType.FLOAT, DataType.DOUBLE]);

/**
 * Float inputs that select rather than carry values, which ONNX's schemas mark non-differentiable: Resize's roi and
 * scales (and Upsample's scales) fix sampling positions and the output size, Dropout's ratio only scales the mask;
 * and GridSample's grid in nearest mode, where it only picks pixels (piecewise constant).
 */
const selectorsOf = (n: Node): readonly number[] => {
  if (n.opType === 'Resize') return [1, 2];
  if (n.opType === 'Upsample' || n.opType === 'Dropout') return [1];
  if (n.opType === 'GridSample' && attr<string>(n, 'mode', 'bilinear') === 'nearest') return [1];
  return [];
};

/** Graph values that feed only selector inputs. */
const selectorValues = (m: Model): Set<string> => {
  const used = (pred: (n: Node, k: number) => boolean) =>
    new Set(m.graph.nodes.flatMap((n) => n.inputs.filter((_, k) => pred(n, k))));
  const data = used((n, k) => !selectorsOf(n).includes(k));
  return new Set([...used((n, k) => selectorsOf(n).includes(k))].filter((v) => !data.has(v)));
};
const tolerance = { float64: 1e-5, float32: 1e-2 } as const;

const asDouble = (t: Tensor): Tensor =>
  t.dtype === 'float32' ? tensor('float64', t.dims, Float64Array.from(t.data as Float32Array)) : t;
/** Fresh copies of the feeds per run: onnxruntime's training-mode BatchNormalization updates its inputs in place. */
const copies = (feeds: Record<string, Tensor>): Record<string, Tensor> =>
  Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).slice() } as Tensor]),
  );
const norm = (a: readonly number[]) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
const numbers = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number>, Number);

/** The model plus `r0…` inputs and a scalar `loss` output: Σₖ ReduceSum(yₖ·rₖ) over the float outputs. */
const withLoss = (m: Model, outs: string[]): { model: Model; loss: string; weights: string[] } => {
  const graph = { ...m.graph, nodes: [...m.graph.nodes], inputs: [...m.graph.inputs], outputs: [...m.graph.outputs] };
  const b = new GraphBuilder(graph);
  const weights: string[] = [];
  const terms = outs.map((y, k) => {
    const type = graph.outputs.find((o) => o.name === y)!.type!;
    const r = b.fresh(`loss_weight${k}`);
    graph.inputs.push({ name: r, type: { ...type }, unknown: [] });
    weights.push(r);
    return b.op('ReduceSum', [b.op('Mul', [y, r])], { keepdims: 0 });
  });
  const loss = terms.length === 1 ? terms[0] : b.op('Sum', terms);
  const elem = graph.outputs.find((o) => o.name === outs[0])!.type!.elemType;
  graph.outputs.push({ name: loss, type: { elemType: elem, shape: [] }, unknown: [] });
  return { model: { ...m, graph }, loss, weights };
};

/** Creates a session, or says why onnxruntime would not load the model. */
const load = async (f: SessionFactory, m: Model, opened: Session[]): Promise<Session | string> => {
  try {
    const s = await f.create(encodeModel(m), { threads: 1 });
    opened.push(s);
    return s;
  } catch (e) {
    return (e as Error).message;
  }
};

/** The op a test is about: its one node's, or (an expanded function) the test's name. */
const opOf = (m: Model, name: string): string =>
  m.graph.nodes.length === 1 ? m.graph.nodes[0].opType : `${name.replace(/^test_/, '')} (expanded)`;

/**
 * Runs one node test through the autodiff and the gradient check.
 *
 * @example
 * const o = await checkNodeTest(ortSessionFactory, { name: 'test_sin', model, inputs: [input0] });
 * // { name: 'test_sin', op: 'Sin', status: 'pass', precision: 'float64', worst: 3e-11 }
 */
export const checkNodeTest = async (factory: SessionFactory, c: NodeTestCase, seed = 1): Promise<NodeTestOutcome> => {
  const m32 = decodeModel(c.model);
  const op = opOf(m32, c.name);
  const out = (o: Partial<NodeTestOutcome>): NodeTestOutcome => ({ name: c.name, op, status: 'skipped', ...o });
  const g = m32.graph;
  if (g.nodes.some((n) => n.domain !== '' && n.domain !== 'ai.onnx')) return out({ reason: 'not the default domain' });
  if ([...g.inputs, ...g.outputs].some((v) => !v.type))
    return out({ reason: 'a graph input or output is not a tensor' });
  if (g.nodes.length === 1 && ruleTable[op] === 'zero') return out({ reason: `${op} passes no gradient` });
  if (g.nodes.some((n) => random.has(n.opType) || (n.opType === 'Dropout' && n.inputs[2])))
    return out({ reason: 'random outputs: no finite differences' });
  const inits = new Set(g.initializers.map((t) => t.name));
  const inputs = g.inputs.filter((i) => !inits.has(i.name));
  const skip = selectorValues(m32);
  const wrt = inputs.flatMap((v) => (floats.has(v.type!.elemType) && !skip.has(v.name) ? [v.name] : []));
  const outs = g.outputs.filter((o) => floats.has(o.type!.elemType)).map((o) => o.name);
  if (wrt.length === 0 || outs.length === 0) return out({ reason: 'no float input and float output' });
  let values: Tensor[];
  try {
    values = c.inputs.map((b) => readTensorProto(decodeTensor(b)));
  } catch (e) {
    return out({ reason: `an input pseudoword cannot read: ${(e as Error).message}` });
  }

  let lastInvalid = '';
  const opened: Session[] = [];
  try {
    for (const precision of ['float64', 'float32'] as const) {
      const model = precision === 'float64' ? toFloat64(m32) : m32;
      const feeds: Record<string, Tensor> = {};
      inputs.forEach((v, k) => (feeds[v.name] = precision === 'float64' ? asDouble(values[k]) : values[k]));
      const forward = await load(factory, model, opened);
      if (typeof forward === 'string') {
        if (precision === 'float32') return out({ reason: `onnxruntime cannot load the forward: ${forward}` });
        continue;
      }
      let ys: Record<string, Tensor>;
      try {
        ys = await forward.run(copies(feeds));
      } catch (e) {
        if (precision === 'float32')
          return out({ reason: `onnxruntime cannot run the forward: ${(e as Error).message}` });
        continue; // loaded in double precision, and then had no double kernel after all (RNN, LSTM, GRU)
      }
      try {
        const r = createRng(seed);
        const rs = outs.map((o) => numbers(ys[o]).map((y) => (Number.isFinite(y) ? r.normal() : 0)));
        const lossOf = (res: Record<string, Tensor>) =>
          outs.reduce((s, o, k) => s + numbers(res[o]).reduce((a, y, i) => a + (rs[k][i] ? y * rs[k][i] : 0), 0), 0);
        const base = lossOf(ys);
        // The rounding of the forward's outputs (unit u) moves L by up to u·Σ|y·r|; divided by the step it is noise
        // in the difference, allowed on top of the tolerance (it matters in float32 where gradients are small).
        const mass = outs.reduce((a, o, k) => a + numbers(ys[o]).reduce((b, y, i) => b + Math.abs(y * rs[k][i]), 0), 0);
        const unit = precision === 'float64' ? 2 ** -53 : 2 ** -24;
        const { model: lm, loss, weights } = withLoss(model, outs);
        let grad: Model;
        try {
          grad = differentiate(lm, { of: loss, wrt });
        } catch (e) {
          if (e instanceof PipelineError) return out({ status: 'refused', reason: e.message });
          throw e;
        }
        const session = await load(factory, grad, opened);
        if (typeof session === 'string') {
          lastInvalid = session;
          continue; // a double kernel may be missing; float32 decides
        }
        const dtype = precision === 'float64' ? 'float64' : 'float32';
        const gradFeeds = { ...feeds };
        weights.forEach(
          (w, k) =>
            (gradFeeds[w] =
              dtype === 'float64'
                ? tensor(dtype, ys[outs[k]].dims, Float64Array.from(rs[k]))
                : tensor(dtype, ys[outs[k]].dims, Float32Array.from(rs[k]))),
        );
        const grads = await session.run(copies(gradFeeds));
        let [worst, judged] = [0, 0]; // the raw error (reported) and the error less rounding noise (judged)
        let singular = 0;
        for (const w of wrt) {
          const x = numbers(feeds[w]);
          const gw = numbers(grads[`${w}_grad`]);
          // Entries where the gradient is infinite or NaN mark points where the op is not differentiable (x^0.4 at
          // 0, Pow of a negative base): they are left out of the direction, and counted in the outcome.
          const v = x.map((_, i) => (Number.isFinite(gw[i]) ? r.normal() : (singular++, 0)));
          const scale = Math.max(1, Math.sqrt(x.reduce((a, b) => a + b * b, 0) / Math.max(x.length, 1)));
          const eps = precision === 'float64' ? 1e-6 * scale : 1e-3 * scale;
          const at = async (s: number) => {
            const moved = x.map((xi, i) => xi + s * eps * v[i]);
            const t =
              dtype === 'float64'
                ? tensor('float64', feeds[w].dims, Float64Array.from(moved))
                : tensor('float32', feeds[w].dims, Float32Array.from(moved));
            return lossOf(await forward.run({ ...copies(feeds), [w]: t }));
          };
          const [plus, minus] = [await at(1), await at(-1)];
          const analytic = gw.reduce((a, gi, i) => a + (v[i] ? gi * v[i] : 0), 0);
          const bound = Math.max(norm(gw.map((gi, i) => (v[i] ? gi : 0))) * norm(v), 1e-12);
          const noise = (8 * unit * mass) / eps;
          const d = { base, plus, minus, eps, analytic, bound, noise, tol: tolerance[precision] };
          worst = Math.max(worst, directionalError({ ...d, noise: 0 }));
          judged = Math.max(judged, directionalError(d));
        }
        const note = singular ? `${singular} non-finite gradient entries left out` : undefined;
        return out({ status: judged <= tolerance[precision] ? 'pass' : 'fail', precision, worst, reason: note });
      } catch (e) {
        return out({ status: 'error', precision, reason: (e as Error).message });
      }
    }
    return out({ status: 'invalid', reason: lastInvalid });
  } finally {
    for (const s of opened) await s.release();
  }
};
