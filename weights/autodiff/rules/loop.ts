/**
 * Loop and Scan: backpropagation through time with a backward Loop, for any trip count (static or not, early exit
 * by `cond` included). A body step is sₜ₊₁, zₜ = f(sₜ, xₜ) (states s, per-step inputs x, per-step outputs z). Then
 *   s̄ₜ = (∂f/∂s)ᵀ·(s̄ₜ₊₁, z̄ₜ),   x̄ₜ = (∂f/∂x)ᵀ·(s̄ₜ₊₁, z̄ₜ),   s̄_T = ȳ_final,   s̄₀ is the initial states' gradient,
 * for t = T − 1 … 0. The forward op is run again with every state sₜ stacked as an extra per-step output (so T is the
 * count of steps that really ran); the backward Loop's body gathers sₜ, xₜ and z̄ₜ at t = T − 1 − k and runs the
 * body's own VJP (the body differentiated by the driver, subgraph-vjp.ts). Outer values the body reads and the
 * gradient reaches are made loop-carried first (loop-captures.ts), so their gradients sum over the steps.
 * Limits: Scan-8 (batched, with sequence_lens) is refused, said so; a state whose shape changes from step to step
 * cannot be stacked (onnxruntime fails when it runs the stacking op); sequence-typed (opset 13+) loop values are not
 * handled (the node tests with them have no float tensor to differentiate).
 */
import { attr } from '../../onnx/builder.ts';
import { AttrType, DataType, type Graph, type Node, type TensorType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { type GraphOutput, graphVjp, renameInto } from '../subgraph-vjp.ts';

/**
 * A prefix for the names this rule creates: its node's first output, unique across all scopes (ONNX), so names made
 * here never shadow those a nested Loop's rule made inside a body differentiated earlier.
 */
const tag = (c: VjpContext) => c.node.outputs.find(Boolean) ?? c.node.name;

const floats = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);

/** A body under construction: nodes added with fresh output names (unique across scopes, as ONNX requires). */
class Body {
  nodes: Node[] = [];
  initializers: Graph['initializers'] = [];
  constructor(private readonly c: VjpContext) {}
  op(opType: string, inputs: string[], attributes: Node['attributes'] = []): string {
    const out = this.c.fresh(`${tag(this.c)}/bwd_${opType}`);
    this.nodes.push({
      name: this.c.fresh(`${out}_node`),
      opType,
      domain: '',
      inputs,
      outputs: [out],
      attributes,
      unknown: [],
    });
    return out;
  }
  /** Gather along `axis` at the int64 scalar `at`. */
  take(v: string, at: string, axis = 0): string {
    return this.op('Gather', [v, at], [{ name: 'axis', type: AttrType.INT, i: axis, unknown: [] }]);
  }
}

const typeOf = (c: VjpContext, v: string, dropAxis?: number): TensorType => {
  const s = c.shape(v);
  return {
    elemType: c.elem(v),
    shape:
      s && dropAxis !== undefined ? s.filter((_, k) => k !== dropAxis) : dropAxis === undefined ? (s ?? null) : null,
  };
};

/** `g` with an Identity output per listed input appended (their values stacked by the op, one per step). */
const stacking = (c: VjpContext, g: Graph, inputs: readonly string[]): Graph => {
  const nodes = [...g.nodes];
  const outs = inputs.map((i) => {
    const o = c.fresh(`${i}/stacked`);
    nodes.push({
      name: c.fresh(`${i}/stack`),
      opType: 'Identity',
      domain: '',
      inputs: [i],
      outputs: [o],
      attributes: [],
      unknown: [],
    });
    return { name: o, unknown: [] };
  });
  return { ...g, nodes, outputs: [...g.outputs, ...outs] };
};

/** The shared backward: see the file comment. */
interface Step {
  body: Graph;
  /** Body input names: states (differentiated where float), then per-step inputs. */
  states: string[];
  stateTypes: TensorType[];
  /** Scanned body inputs, with how to read step t from outside: a value, its axis, reversed or not. */
  xs: { name: string; type: TensorType; from: { v: string; axis: number; reverse: boolean } }[];
  /** Loop's iteration number and condition inputs (bound to t and true). */
  iter?: [string, string];
  /** Body outputs: the next states, then per-step outputs with their outer cotangent (if any) and layout. */
  nextStates: string[];
  zs: { name: string; type: TensorType; gy?: string; axis: number; reverse: boolean }[];
  /** Outer values: T (int64 scalar), the stacks of the states. */
  T: string;
  stacks: string[];
  /** The states' initial values (outside). */
  initials: string[];
  /** Outer cotangents of the final states (undefined: zero). */
  gFinal: (string | undefined)[];
}

const backward = (c: VjpContext, s: Step): { dStates: (string | undefined)[]; dXs: (string | undefined)[] } => {
  const fl = s.stateTypes.map((t) => floats.has(t.elemType));
  const wrt = [
    ...s.states.filter((_, j) => fl[j]),
    ...s.xs.filter((x) => floats.has(x.type.elemType)).map((x) => x.name),
  ];
  const outs: GraphOutput[] = [
    ...s.nextStates.flatMap((n, j) => (fl[j] ? [{ name: n, type: s.stateTypes[j] }] : [])),
    ...s.zs.filter((z) => z.gy).map((z) => ({ name: z.name, type: z.type })),
  ];
  if (outs.length === 0) return { dStates: [], dXs: [] };
  const typed: Graph = {
    ...s.body,
    inputs: s.body.inputs.map((v) => {
      const j = s.states.indexOf(v.name);
      const x = s.xs.find((y) => y.name === v.name);
      return { ...v, type: j >= 0 ? s.stateTypes[j] : (x?.type ?? v.type) };
    }),
  };
  const vjp = graphVjp(c.differentiator(), typed, c.opset, outs, wrt);
  c.requireOpset(vjp.opset);

  const b = new Body(c);
  const k = c.fresh(`${tag(c)}/bwd_step`);
  const cond = c.fresh(`${tag(c)}/bwd_cond`);
  const last = c.emit('Sub', [s.T, c.scalarOfType(1, DataType.INT64)]);
  const t = b.op('Sub', [last, k]);
  const dIn = s.states.flatMap((_, j) => (fl[j] ? [c.fresh(`${tag(c)}/bwd_dstate`)] : []));
  const bind = new Map<string, string>();
  let fj = 0;
  s.states.forEach((st, j) => bind.set(st, b.take(s.stacks[j], t)));
  for (const x of s.xs) bind.set(x.name, b.take(x.from.v, x.from.reverse ? k : t, x.from.axis));
  if (s.iter) {
    bind.set(s.iter[0], t);
    bind.set(s.iter[1], cond);
  }
  let ct = 0;
  s.nextStates.forEach((_, j) => {
    if (fl[j]) bind.set(vjp.cts[ct++], dIn[fj++]);
  });
  for (const z of s.zs) if (z.gy) bind.set(vjp.cts[ct++], b.take(z.gy, z.reverse ? k : t, z.axis));
  const r = renameInto(vjp.graph, bind, (base) => c.fresh(base));
  const grads = vjp.grads.map(r.at);
  const nf = dIn.length;
  const stepGrads = grads.slice(nf);
  const bodyB: Graph = {
    name: 'backward',
    nodes: [
      ...b.nodes,
      ...r.nodes,
      {
        name: c.fresh(`${tag(c)}/bwd_cond_node`),
        opType: 'Identity',
        domain: '',
        inputs: [cond],
        outputs: [c.fresh(`${tag(c)}/bwd_cond_out`)],
        attributes: [],
        unknown: [],
      },
    ],
    initializers: [...b.initializers, ...r.initializers],
    inputs: [
      { name: k, type: { elemType: DataType.INT64, shape: [] }, unknown: [] },
      { name: cond, type: { elemType: DataType.BOOL, shape: [] }, unknown: [] },
      ...dIn.map((d, j) => ({
        name: d,
        type: { elemType: s.stateTypes.filter((_, i) => fl[i])[j].elemType, shape: null },
        unknown: [],
      })),
    ],
    outputs: [],
    valueInfo: [],
    unknown: [],
  };
  const condOut = bodyB.nodes[bodyB.nodes.length - 1].outputs[0];
  const fTypes = s.stateTypes.filter((_, i) => fl[i]);
  const fxs = s.xs.filter((x) => floats.has(x.type.elemType));
  bodyB.outputs = [
    { name: condOut, type: { elemType: DataType.BOOL, shape: [] }, unknown: [] },
    ...grads
      .slice(0, nf)
      .map((g, j) => ({ name: g, type: { elemType: fTypes[j].elemType, shape: null }, unknown: [] })),
    ...stepGrads.map((g, j) => ({ name: g, type: { elemType: fxs[j].type.elemType, shape: null }, unknown: [] })),
    { name: t, type: { elemType: DataType.INT64, shape: [] }, unknown: [] },
  ];
  const inits = s.states.flatMap((_, j) =>
    fl[j]
      ? [s.gFinal[j] ?? c.zerosLike(s.initials[j])] // (zeros like the initial state: T may be 0)
      : [],
  );
  const res = c.emitN('Loop', [s.T, '', ...inits], nf + stepGrads.length + 1, { body: bodyB });
  res.slice(0, -1).forEach((v, j) => c.sameElem(v, j < nf ? inits[j] : fxs[j - nf].from.v));
  const tStack = res[res.length - 1]; // T − 1 − k at k
  fj = 0;
  const dStates = s.states.map((_, j) => (fl[j] ? res[fj++] : undefined));
  let xj = 0;
  const dXs = s.xs.map((x) => {
    if (!floats.has(x.type.elemType)) return undefined;
    // The backward Loop stacked step T − 1 − k at k; a forward scan input holds step t at t, so position p takes
    // entry T − 1 − p, which is tStack[p] (a reversed scan input holds step t at T − 1 − t: already in place).
    let v = res[nf + xj++];
    if (!x.from.reverse) v = c.emit('Gather', [v, tStack], { axis: 0 });
    const r2 = (c.shape(x.from.v) ?? []).length;
    if (x.from.axis === 0 || r2 === 0) return v;
    const perm = Array.from({ length: r2 }, (_, d) => (d < x.from!.axis ? d + 1 : d === x.from!.axis ? 0 : d));
    return c.emit('Transpose', [v], { perm });
  });
  return { dStates, dXs };
};

const graphAttr = (n: Node): Graph => attr<Graph | undefined>(n, 'body', undefined)!;

/** Loop (see the file comment): states are the loop-carried values, the iteration number a per-step input. */
export const loop: Rule = (c) => {
  const body = graphAttr(c.node);
  const N = c.node.inputs.length - 2;
  const K = body.outputs.length - 1 - N;
  const states = body.inputs.slice(2, 2 + N).map((v) => v.name);
  // The iteration numbers are stacked too: their count is T, also when no state is.
  const again = stacking(c, body, [...states, body.inputs[0].name]);
  const rerun = c.emitN('Loop', c.node.inputs, N + K + N + 1, { body: again });
  const stacks = rerun.slice(N + K);
  const T = c.emit('Reshape', [c.dimOf(stacks[N], 0), c.ints([])]);
  const { dStates } = backward(c, {
    body,
    states,
    stateTypes: c.node.inputs.slice(2).map((v) => typeOf(c, v)),
    initials: c.node.inputs.slice(2),
    xs: [],
    iter: [body.inputs[0].name, body.inputs[1].name],
    nextStates: body.outputs.slice(1, 1 + N).map((v) => v.name),
    zs: body.outputs.slice(1 + N).map((v, k) => ({
      name: v.name,
      type: v.type?.shape ? v.type : typeOf(c, c.y(N + k), 0),
      gy: c.gy(N + k),
      axis: 0,
      reverse: false,
    })),
    T,
    stacks,
    gFinal: Array.from({ length: N }, (_, j) => c.gy(j)),
  });
  return [undefined, undefined, ...dStates];
};

/** Scan (opset ≥ 9; see the file comment): states first, then the scanned inputs with their axes and directions. */
export const scan: Rule = (c) => {
  if (c.opset < 9)
    c.fail('at opset 8 (batched, with sequence_lens: not written; opset 9 made Scan per sequence, re-export at ≥ 9)');
  const body = graphAttr(c.node);
  const M = c.attr('num_scan_inputs', 0);
  const N = c.node.inputs.length - M;
  const K = body.outputs.length - N;
  const ints = (name: string, n: number) => {
    const v = c.attr<number[]>(name, []);
    return Array.from({ length: n }, (_, j) => v[j] ?? 0);
  };
  const [inAx, inDir, outAx, outDir] = [
    ints('scan_input_axes', M),
    ints('scan_input_directions', M),
    ints('scan_output_axes', K),
    ints('scan_output_directions', K),
  ];
  const norm = (a: number, v: string) => (a < 0 ? a + c.rank(v) : a);
  const states = body.inputs.slice(0, N).map((v) => v.name);
  const again = stacking(c, body, states);
  const extra = N;
  const attrs = {
    body: again,
    num_scan_inputs: M,
    scan_input_axes: inAx,
    scan_input_directions: inDir,
    scan_output_axes: [...outAx, ...Array(extra).fill(0)],
    scan_output_directions: [...outDir, ...Array(extra).fill(0)],
  };
  const rerun = N ? c.emitN('Scan', c.node.inputs, N + K + extra, attrs) : [];
  const stacks = rerun.slice(N + K);
  const x0 = c.x(N);
  const T = c.emit('Reshape', [c.dimOf(x0, norm(inAx[0], x0)), c.ints([])]);
  const { dStates, dXs } = backward(c, {
    body,
    states,
    stateTypes: c.node.inputs.slice(0, N).map((v) => typeOf(c, v)),
    initials: c.node.inputs.slice(0, N),
    xs: body.inputs.slice(N).map((v, i) => {
      const outer = c.x(N + i);
      const axis = norm(inAx[i], outer);
      return { name: v.name, type: typeOf(c, outer, axis), from: { v: outer, axis, reverse: inDir[i] === 1 } };
    }),
    nextStates: body.outputs.slice(0, N).map((v) => v.name),
    zs: body.outputs.slice(N).map((v, k) => {
      const y = c.y(N + k);
      const axis = outAx[k] < 0 ? outAx[k] + c.rank(y) : outAx[k];
      const type = v.type?.shape ? v.type : typeOf(c, y, axis);
      return { name: v.name, type, gy: c.gy(N + k), axis, reverse: outDir[k] === 1 };
    }),
    T,
    stacks,
    gFinal: Array.from({ length: N }, (_, j) => c.gy(j)),
  });
  return [...states.map((_, j) => dStates[j]), ...dXs];
};
