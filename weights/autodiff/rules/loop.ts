/**
 * Loop and Scan: backpropagation through time with a backward Loop, for any trip count (static or not, early exit
 * by `cond` included). A body step is sₜ₊₁, zₜ = f(sₜ, xₜ) (states s, per-step inputs x, per-step outputs z). Then
 *   s̄ₜ = (∂f/∂s)ᵀ·(s̄ₜ₊₁, z̄ₜ),   x̄ₜ = (∂f/∂x)ᵀ·(s̄ₜ₊₁, z̄ₜ),   s̄_T = ȳ_final,   s̄₀ is the initial states' gradient,
 * for t = T − 1 … 0. The forward op is run again with every state sₜ stacked as an extra per-step output (so T is the
 * count of steps that really ran); the backward Loop's body gathers sₜ, xₜ and z̄ₜ at t = T − 1 − k and runs the
 * body's own VJP (the body differentiated by the driver, subgraph-vjp.ts). Outer values the body reads and the
 * gradient reaches are made loop-carried first (loop-captures.ts), so their gradients sum over the steps.
 * Scan-8 (batched, with sequence_lens) runs that backward once per batch element (`scan8` below).
 * Limits: a state whose shape changes from step to step cannot be stacked (onnxruntime fails when it runs the
 * stacking op); sequence-typed (opset 13+) loop values are not handled (the node tests with them have no float
 * tensor to differentiate); a Scan-8 whose gradient needs ops newer than opset 8 is refused (raising the model's
 * opset would make it a Scan-9).
 */
import { attr } from '../../onnx/builder.ts';
import { AttrType, DataType, type Graph, type Node, type TensorType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { passThrough } from '../loop-captures.ts';
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
  /** Outer values: T (int64 scalar), the stacks of the states (none: the state stays its initial value). */
  T: string;
  stacks: (string | undefined)[];
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
  s.states.forEach((st, j) => bind.set(st, s.stacks[j] ? b.take(s.stacks[j]!, t) : s.initials[j]));
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
      // The VJP's constants as Constant nodes: before IR 4 a graph's initializers had to be its inputs too.
      ...r.initializers.map((t) => ({
        name: c.fresh(`${t.name}_node`),
        opType: 'Constant',
        domain: '',
        inputs: [],
        outputs: [t.name],
        attributes: [{ name: 'value', type: AttrType.TENSOR, t, unknown: [] }],
        unknown: [],
      })),
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
    initializers: [],
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
  const res = emitLoop(c, s.T, inits, bodyB, nf + stepGrads.length + 1);
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

/**
 * A Loop over M steps, no condition, carrying `inits`, with `nOut` outputs; before opset 11 Loop needs one carried
 * value at least, so where there is none it carries M as a dummy (dropped from the outputs).
 */
const emitLoop = (c: VjpContext, M: string, inits: string[], body: Graph, nOut: number): string[] => {
  if (inits.length > 0 || c.opset >= 11) return c.emitN('Loop', [M, '', ...inits], nOut, { body });
  const [dIn, dOut] = [c.fresh(`${tag(c)}/bwd_dummy`), c.fresh(`${tag(c)}/bwd_dummy_out`)];
  const int = { elemType: DataType.INT64, shape: [] };
  const id = { name: `${dOut}_node`, opType: 'Identity', domain: '', inputs: [dIn], outputs: [dOut] };
  const g: Graph = {
    ...body,
    inputs: [...body.inputs, { name: dIn, type: int, unknown: [] }],
    outputs: [body.outputs[0], { name: dOut, type: int, unknown: [] }, ...body.outputs.slice(1)],
    nodes: [...body.nodes, { ...id, attributes: [], unknown: [] }],
  };
  return c.emitN('Loop', [M, '', M], nOut + 1, { body: g }).slice(1);
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
  if (c.forwardOpset < 9) return scan8(c);
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

/** `v`'s type without its first `n` axes (the batch; the batch and time). */
const inner = (c: VjpContext, v: string, n: number): TensorType => ({
  elemType: c.elem(v),
  shape: c.shape(v)?.slice(n) ?? null,
});

/**
 * Scan-8: states, scan inputs and scan outputs have a batch axis 0 (scan inputs and outputs time on axis 1), and
 * element b runs ℓ_b steps (sequence_lens, else all T), a reversed input read from position ℓ_b − 1 down, its scan
 * outputs zero from ℓ_b on. So element b is a Scan-9 of ℓ_b steps on its own slices, and its VJP is `backward` above
 * on element b's slices of the inputs, of the cotangents and of the states a rerun Scan-8 stacks: a backward Loop
 * over b runs it and stacks s̄₀[b] and x̄[b] (x̄[b, t] = 0 for t ≥ ℓ_b, read by no step). The body's outer reads
 * (appended to the node's inputs, loop-captures.ts) become pass-through states of each element's Scan, their
 * gradients summed over b.
 */
const scan8: Rule = (c) => {
  const body = graphAttr(c.node);
  const M = c.attr('num_scan_inputs', 0);
  const N = body.inputs.length - M;
  const K = body.outputs.length - N;
  if (M === 0) c.fail('at opset 8 without scan inputs (nothing gives the sequence length)');
  const [lens, real, reads] = [c.x(0), c.node.inputs.slice(0, 1 + N + M), c.node.inputs.slice(1 + N + M)];
  const dirs = c.attr<number[]>('directions', []);
  const carried = reads.filter((_, r) => c.needs(1 + N + M + r));
  const S = N + carried.length;
  const body2 = passThrough(body, carried, N, N, (base) => c.fresh(base));
  const states = body.inputs.slice(0, N).map((v) => v.name);
  const again = { body: stacking(c, body, states), num_scan_inputs: M, directions: dirs.length ? dirs : undefined };
  const stacks = N ? c.emitN('Scan', real, N + K + N, again).slice(N + K) : [];
  const x0 = c.x(1 + N);
  const [B, T] = [0, 1].map((a) => c.emit('Reshape', [c.dimOf(x0, a), c.ints([])]));

  const [bi, cond] = [c.fresh(`${tag(c)}/bwd_batch`), c.fresh(`${tag(c)}/bwd_batch_cond`)];
  const g: Graph = {
    name: 'backward_batch',
    nodes: [],
    initializers: [],
    inputs: [
      { name: bi, type: { elemType: DataType.INT64, shape: [] }, unknown: [] },
      { name: cond, type: { elemType: DataType.BOOL, shape: [] }, unknown: [] },
    ],
    outputs: [],
    valueInfo: [],
    unknown: [],
  };
  const e = c.inBody(g);
  const at = (v: string) => e.emit('Gather', [v, bi], { axis: 0 });
  const len = lens ? at(lens) : T;
  const xs = real.slice(1 + N).map(at);
  const gyAt = (k: number) => (c.gy(k) ? at(c.gy(k)!) : undefined);
  const { dStates, dXs } = backward(e, {
    body: body2,
    states: body2.inputs.slice(0, S).map((v) => v.name),
    stateTypes: [...real.slice(1, 1 + N).map((v) => inner(c, v, 1)), ...carried.map((v) => typeOf(c, v))],
    initials: [...real.slice(1, 1 + N).map(at), ...carried],
    xs: body2.inputs.slice(S).map((v, i) => ({
      name: v.name,
      type: inner(c, real[1 + N + i], 2),
      from: { v: xs[i], axis: 0, reverse: dirs[i] === 1 },
    })),
    nextStates: body2.outputs.slice(0, S).map((v) => v.name),
    zs: body2.outputs.slice(S).map((v, k) => ({
      name: v.name,
      type: v.type?.shape ? v.type : inner(c, c.y(N + k), 2),
      gy: gyAt(N + k),
      axis: 0,
      reverse: false,
    })),
    T: len,
    stacks: [...stacks.map(at), ...carried.map(() => undefined)],
    gFinal: [...Array.from({ length: N }, (_, j) => gyAt(j)), ...carried.map(() => undefined)],
  });
  // x̄[b] has ℓ_b steps: zeros for the rest (T − ℓ_b of them).
  const pad = (d: string, x: string) => {
    if (!lens) return d;
    const rest = e.emit('Reshape', [e.emit('Sub', [T, len]), e.ints([1])]);
    const shape = e.emit('Concat', [rest, e.sliceVector(e.shapeOf(x), 1, Infinity)], { axis: 0 });
    return e.emit('Concat', [d, e.emit('Expand', [e.scalarOfType(0, e.elem(d)), shape])], { axis: 0 });
  };
  const outs = [...dStates, ...dXs.map((d, i) => d && pad(d, xs[i]))];
  c.requireOpset(e.opset);
  if (c.opset > 8)
    c.fail(
      `at opset 8 when the gradient needs opset ${c.opset}: the model at that opset would read it as a later Scan`,
    );
  if (!outs.some(Boolean)) return [];
  const condOut = e.emit('Identity', [cond]);
  const kept = outs.filter((o): o is string => !!o);
  g.outputs = [
    { name: condOut, type: { elemType: DataType.BOOL, shape: [] }, unknown: [] },
    ...kept.map((o) => ({ name: o, type: { elemType: e.elem(o), shape: null }, unknown: [] })),
  ];
  const res = emitLoop(c, B, [], g, kept.length);
  const stacked = outs.map((o) => (o ? c.sameElem(res[kept.indexOf(o)], o) : undefined));
  const dCarried = stacked.slice(N, S).map((d) => d && c.reduceSum(d, [0], false));
  return [
    undefined,
    ...stacked.slice(0, N),
    ...stacked.slice(S),
    ...reads.map((r) => (carried.includes(r) ? dCarried[carried.indexOf(r)] : undefined)),
  ];
};
