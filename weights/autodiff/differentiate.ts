/**
 * Reverse-mode autodiff over ONNX graphs: from a forward model, a scalar output and the inputs to differentiate,
 * one model that computes the outputs and the gradients with standard ONNX ops only. The driver sorts the graph,
 * finds the nodes on a path from `wrt` to `of` (activity analysis), walks them in reverse calling one VJP rule per
 * op (rule-table.ts), sums fan-out, undoes broadcasting, and wires `<wrt>_grad` outputs.
 */
import { DataType, type Graph, type Model, type Node, type ValueInfo } from '../onnx/proto.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { PipelineError } from '../../common/errors.ts';
import { tensor } from '../../common/tensor.ts';
import { GradEmitter, type GradOptions } from './grad-emitter.ts';
import { dropUnused, placeShapeNodes } from './graph-tidy.ts';
import { rematerialize } from './remat.ts';
import { scaleThroughMatMul } from './scale-through-matmul.ts';
import { splitAttention } from './split-attention.ts';
import { activity, topoOrder } from '../onnx/graph-walk.ts';
import { VjpContext } from './rule-context.ts';
import { broadcasting, ruleTable, type RuleEntry, unsupportedWhy } from './rule-table.ts';
import { isDifferentiable, ValueFacts } from './shape-infer.ts';
import { branchReadsAsInputs, carryCaptures } from './loop-captures.ts';
import { toHalf } from '../../common/numerics/half.ts';
import { unbroadcast } from './unbroadcast.ts';

/** What to differentiate, with respect to what, and what else to expose. */
export interface DifferentiateOptions extends GradOptions {
  /** The value to differentiate: a scalar (shape [] or all ones); a larger tensor differentiates its sum. */
  of: string;
  /**
   * Graph inputs or initializers to differentiate with respect to. An initializer named here is promoted to a
   * graph input (and removed from the initializers): the caller feeds its value every run, e.g. read once with
   * `readTensorProto` from the original model. (Keeping it as an initializer that is also an input does not
   * work: onnxruntime-node hides such inputs and silently ignores feeds for them.)
   */
  wrt: readonly string[];
  /** Intermediate values to expose as extra outputs (nothing else is added). */
  keep?: readonly string[];
}

const entryOf = (n: Node): RuleEntry | undefined =>
  n.domain === '' || n.domain === 'ai.onnx' ? ruleTable[n.opType] : undefined;

/**
 * Forward + backward model: the same inputs and outputs, plus `<wrt>_grad` (same shape and type as `wrt`) for
 * each name in `wrt`. Initializers are carried byte for byte (external data stays external, with the same
 * relative location). The default-domain opset is raised to 16 only when a rule needs ScatterND/ScatterElements
 * with reduction='add' (no op the forward may use changes meaning between 13 and 16).
 *
 * @example
 * const train = differentiate(model, { of: 'loss', wrt: ['inputs_embeds'] });
 * // run: outputs include 'loss' and 'inputs_embeds_grad'
 */
export const differentiate = (model: Model, opts: DifferentiateOptions): Model => {
  const g0 = model.graph;
  const graph: Graph = {
    ...g0,
    nodes: [...g0.nodes],
    initializers: [...g0.initializers],
    inputs: [...g0.inputs],
    outputs: [...g0.outputs],
    valueInfo: [...g0.valueInfo],
  };
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
  // If nodes (and opset-8 Scans) appear with their subgraphs' outer reads as inputs (loop-captures.ts); the graph
  // keeps the real ones.
  let order = topoOrder(graph).map((n) => branchReadsAsInputs(n, opset));
  const produced = new Set(order.flatMap((n) => n.outputs));
  const declared = new Set([...graph.inputs.map((i) => i.name), ...graph.initializers.map((t) => t.name)]);
  if (!produced.has(opts.of) && !declared.has(opts.of))
    throw new PipelineError('bad_request', `'${opts.of}' is not a value of the graph`);
  for (const w of opts.wrt) {
    if (!declared.has(w))
      throw new PipelineError(
        'bad_request',
        `'${w}' is neither a graph input nor an initializer, so it cannot be differentiated with respect to`,
      );
    const init = graph.initializers.find((t) => t.name === w);
    if (!init) continue;
    graph.initializers = graph.initializers.filter((t) => t !== init);
    if (!graph.inputs.some((i) => i.name === w))
      graph.inputs.push({ name: w, type: { elemType: init.dataType, shape: [...init.dims] }, unknown: [] });
  }
  let facts = ValueFacts.forGraph(graph, opset, order);
  if (opts.splitAttention !== 'never' && splitAttention(graph, facts, opts.splitAttention ?? 64 * 2 ** 20)) {
    // Big attention was split over its heads (split-attention.ts): new nodes and constants, so order, names and
    // shapes again.
    order = topoOrder(graph).map((n) => branchReadsAsInputs(n, opset));
    produced.clear();
    for (const n of order) for (const o of n.outputs) produced.add(o);
    for (const t of graph.initializers) declared.add(t.name);
    facts = ValueFacts.forGraph(graph, opset, order);
  }
  const analyse = () =>
    activity(
      order,
      opts.wrt,
      opts.of,
      (n) => entryOf(n) !== 'zero',
      (v) => isDifferentiable(facts.get(v)?.elem ?? 0),
    );
  // Loop/Scan bodies reading varied outer values carry them as states instead (loop-captures.ts).
  let namer: GraphBuilder | undefined; // made on first use: most graphs have no Loop or Scan
  const swapped = carryCaptures(
    order,
    analyse().varied,
    (base) => (namer ??= new GraphBuilder(graph)).fresh(base),
    opset,
  );
  if (swapped.size) {
    graph.nodes = graph.nodes.map((n) => swapped.get(n) ?? n);
    order = order.map((n) => swapped.get(n) ?? n);
    for (const n of swapped.values()) facts.infer(n);
  }
  const { active, varied } = analyse();

  // For error messages: walk back from a node to the wrt value that makes it active.
  const producer = new Map(order.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const where = (n: Node) => () => {
    let v = n.inputs.find((i) => varied.has(i)) ?? '';
    for (let p = producer.get(v); p && !opts.wrt.includes(v); p = producer.get(v))
      v = p.inputs.find((i) => varied.has(i)) ?? '';
    return `, which lies on the path from '${v}' to '${opts.of}'`;
  };
  for (const n of active) {
    const e = entryOf(n);
    if (typeof e === 'function') continue;
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::${n.opType}` : n.opType;
    const hint =
      n.domain && n.domain !== 'ai.onnx' ? ' (a fused onnxruntime op: export the model without Olive/ORT fusions)' : '';
    throw new PipelineError(
      'unsupported_op',
      `no gradient rule for ${op} (node '${n.name || n.outputs[0]}')${where(n)()}${e === 'unsupported' ? `: ${unsupportedWhy[n.opType]}` : `${hint}; add a rule in weights/autodiff/rules/ and register it in weights/autodiff/rule-table.ts`}`,
      { op, node: n.name },
    );
  }

  const fromNode = graph.nodes.length;
  const fromInit = graph.initializers.length;
  const b = new GraphBuilder(graph);
  const em = new GradEmitter(b, facts, new Set([...produced, ...declared]), opts);
  // onnxruntime has no kernels for the arithmetic ops before opset 7 (Mul-6 and the like, with their `broadcast`
  // attribute), which every rule emits: older models come out stamped 7.
  em.opset = Math.max(em.opset, 7);

  // Cotangent contributions per value; summed (Add/Sum) the first time the total is read.
  const parts = new Map<string, string[]>();
  const push = (v: string, gv: string) => parts.set(v, [...(parts.get(v) ?? []), gv]);
  const total = (v: string): string | undefined => {
    const p = parts.get(v);
    if (!p?.length) return undefined;
    if (p.length > 1) parts.set(v, [em.emit(p.length === 2 ? 'Add' : 'Sum', p)]);
    return parts.get(v)![0];
  };
  em.setPrefix('grad/seed');
  push(opts.of, onesLike(em, opts.of)); // dL/dL = 1

  const cotangentOf = new Map<Node, string>();
  // For rules that read across nodes (rules/attention-softmax.ts): readers of each value, settled cotangents.
  const readers = new Map<string, Node[]>();
  for (const n of order) for (const i of new Set(n.inputs)) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  const settled = new Map<string, string>();
  const view = {
    consumers: (v: string) => readers.get(v) ?? [],
    cotangent: (v: string) => settled.get(v),
    isSeed: (v: string) => v === opts.of,
  };
  for (const n of [...active].reverse()) {
    const gys = n.outputs.map((o) => (varied.has(o) ? total(o) : undefined));
    n.outputs.forEach((o, k) => gys[k] !== undefined && settled.set(o, gys[k]!));
    if (gys.every((x) => x === undefined)) continue;
    em.setPrefix(`${n.name || n.opType}/grad`);
    const need = n.inputs.map((i) => varied.has(i));
    const first = graph.nodes.length;
    const gx = (entryOf(n) as Exclude<RuleEntry, string>)(
      new VjpContext(em, n, gys, need, where(n), view, differentiate),
    );
    n.inputs.forEach((inp, k) => {
      if (need[k] && gx[k]) push(inp, broadcasting.has(n.opType) ? unbroadcast(em, gx[k]!, inp) : gx[k]!);
    });
    // The cotangent behind these nodes: what a recompute they read may wait for (remat.ts).
    const g = gys.find((x) => x !== undefined)!;
    for (const m of graph.nodes.slice(first)) cotangentOf.set(m, g);
  }

  // Outputs: the model's own, the kept intermediates, then one gradient per wrt value.
  const info = (name: string): ValueInfo => ({
    name,
    type: { elemType: facts.get(name)?.elem ?? 0, shape: facts.get(name)?.shape ?? null },
    unknown: [],
  });
  for (const k of opts.keep ?? []) if (!graph.outputs.some((o) => o.name === k)) graph.outputs.push(info(k));
  em.setPrefix('grad/out');
  for (const w of opts.wrt) {
    const name = `${w}_grad`;
    if (graph.outputs.some((o) => o.name === name) || produced.has(name))
      throw new PipelineError('bad_request', `the graph already has a value named '${name}'`);
    b.op('Identity', [total(w) ?? em.zerosLike(w)], {}, { name: `grad/out/${w}`, outputs: [name] });
    const src = facts.get(w);
    graph.outputs.push({
      name,
      type: {
        elemType: src?.elem ?? 0,
        shape: graph.inputs.find((i) => i.name === w)?.type?.shape ?? src?.shape ?? null,
      },
      unknown: [],
    });
  }
  rematerialize(graph, fromNode, em, new Set(graph.outputs.map((o) => o.name)), {
    elementwise: opts.recompute !== false,
    attention: opts.recomputeAttention ?? 'auto',
    cotangentOf,
  });
  scaleThroughMatMul(graph, fromNode, em, new Set(graph.outputs.map((o) => o.name)));
  dropUnused(graph, fromNode, fromInit);
  graph.nodes = placeShapeNodes(graph.nodes, em.shapeNodes);
  const raised = em.opset > opset;
  return {
    ...model,
    irVersion: raised ? Math.max(model.irVersion, 8) : model.irVersion,
    opsetImport: model.opsetImport.map((o) =>
      o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: em.opset } : o,
    ),
    graph,
  };
};

/** Ones shaped like `v` in its element type: the seed dL/dL. */
const onesLike = (em: GradEmitter, v: string): string => {
  const s = em.shape(v);
  const e = em.elem(v);
  if (s && s.length === 0) return em.scalar(1, e);
  const one =
    e === DataType.FLOAT16
      ? tensor('float16', [1], Uint16Array.of(toHalf(1)))
      : e === DataType.DOUBLE
        ? tensor('float64', [1], Float64Array.of(1))
        : tensor('float32', [1], Float32Array.of(1));
  return em.emit('ConstantOfShape', [em.shapeOf(v)], { value: one });
};
