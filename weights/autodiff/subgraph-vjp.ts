/**
 * The VJP of a whole graph, for rules whose op runs a graph (Loop and Scan bodies) or is best written as one
 * (RoiAlign and bicubic GridSample as Gather/Mul graphs). With the cotangents ȳₖ of the graph's outputs yₖ as extra
 * inputs, the scalar L = Σₖ Σ yₖ·ȳₖ has ∂L/∂x = Σₖ ȳₖ·∂yₖ/∂x — exactly the VJP ȳ ↦ x̄ — so the driver differentiates
 * that graph like any model, and the rule copies the result where it needs it: into the backward section
 * (`inlineGraph`) or into the body of a backward Loop (`renameInto`).
 */
import { GraphBuilder } from '../onnx/builder.ts';
import { DataType, type Graph, type Model, type Node, type TensorType } from '../onnx/proto.ts';
import { renameTensorProto } from '../onnx/tensor-proto.ts';
import type { GradEmitter } from './grad-emitter.ts';

/** One output of the graph and the type of its cotangent (its own type). */
export interface GraphOutput {
  name: string;
  type: TensorType;
}

/** A graph computing x̄ for `wrt` from the graph's inputs and `cts` (one cotangent input per output asked). */
export interface GraphVjp {
  graph: Graph;
  cts: string[];
  grads: string[];
  opset: number;
}

/**
 * `g` (a subgraph) with its reads of outer names renamed by `at`, nested subgraphs included; names `g` defines
 * itself are its own and stay (a body may reuse a name its outer graph also has).
 */
export const renameRefs = (g: Graph, at: (v: string) => string): Graph => {
  const local = new Set([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
  for (const n of g.nodes) for (const o of n.outputs) local.add(o);
  const inner = (v: string) => (local.has(v) ? v : at(v));
  return {
    ...g,
    outputs: g.outputs.map((v) => ({ ...v, name: inner(v.name) })),
    nodes: g.nodes.map((n) => renameNode(n, inner, n.name)),
  };
};

const renameNode = (n: Node, at: (v: string) => string, name: string, fresh?: (base: string) => string): Node => {
  const sub = (g: Graph) => (fresh ? renameDeep(g, at, fresh) : renameRefs(g, at));
  return {
    ...n,
    name,
    inputs: n.inputs.map((v) => (v ? at(v) : v)),
    outputs: n.outputs.map((v) => (v ? at(v) : v)),
    attributes: n.attributes.map((a) =>
      a.g || a.graphs ? { ...a, g: a.g && sub(a.g), graphs: a.graphs?.map(sub) } : a,
    ),
  };
};

/**
 * `g` (a subgraph) with every name it defines made fresh, at any depth, and its outer reads renamed by `at`:
 * onnxruntime refuses a subgraph that defines a name an enclosing graph also defines, and bodies differentiated
 * separately reuse names (each by its own builder).
 */
const renameDeep = (g: Graph, at: (v: string) => string, fresh: (base: string) => string): Graph => {
  const map = new Map<string, string>();
  for (const v of g.inputs) map.set(v.name, fresh(v.name));
  for (const t of g.initializers) map.set(t.name, fresh(t.name));
  for (const n of g.nodes) for (const o of n.outputs) if (o) map.set(o, fresh(o));
  const inner = (v: string) => map.get(v) ?? at(v);
  return {
    ...g,
    inputs: g.inputs.map((v) => ({ ...v, name: inner(v.name) })),
    initializers: g.initializers.map((t) => renameTensorProto(t, inner(t.name))),
    outputs: g.outputs.map((v) => ({ ...v, name: inner(v.name) })),
    nodes: g.nodes.map((n) => renameNode(n, inner, fresh(n.name || n.opType), fresh)),
  };
};

/**
 * `g`'s nodes and initializers with `g`'s inputs replaced by `bind` and every other name `g` defines made fresh;
 * names `g` reads from outside stay. `at` maps any of `g`'s names to its new one.
 */
export const renameInto = (g: Graph, bind: ReadonlyMap<string, string>, fresh: (base: string) => string) => {
  // A suffix keeps copied names clear of names the caller adds later (the driver's `<wrt>_grad` outputs).
  const own = (base: string) => fresh(`${base}/sub`);
  const map = new Map(bind);
  for (const v of g.inputs) if (!map.has(v.name)) throw new Error(`renameInto: graph input '${v.name}' is not bound`);
  for (const t of g.initializers) if (!map.has(t.name)) map.set(t.name, own(t.name));
  for (const n of g.nodes) for (const o of n.outputs) if (o) map.set(o, own(o));
  const at = (v: string) => map.get(v) ?? v;
  return {
    nodes: g.nodes.map((n) => renameNode(n, at, own(n.name || n.opType), own)),
    initializers: g.initializers.filter((t) => !bind.has(t.name)).map((t) => renameTensorProto(t, at(t.name))),
    at,
  };
};

/**
 * The driver itself, handed to rules that differentiate a subgraph (Loop/Scan/If bodies, decompositions): passed in
 * rather than imported, so that the rules do not import the driver that imports the rule table.
 */
export type Differentiator = (model: Model, opts: { of: string; wrt: readonly string[] }) => Model;

/**
 * The VJP graph of `g` (run at `opset`) for the outputs `outs` with respect to its inputs `wrt`: `g`'s inputs plus
 * one cotangent input per output, the gradients `<wrt>_grad` among its outputs.
 */
export const graphVjp = (
  differentiate: Differentiator,
  g: Graph,
  opset: number,
  outs: readonly GraphOutput[],
  wrt: readonly string[],
): GraphVjp => {
  // The declared types of the outputs stay as priors for shape inference.
  const valueInfo = [...g.valueInfo, ...g.outputs.filter((o) => o.type?.shape)];
  const graph: Graph = { ...g, nodes: [...g.nodes], inputs: [...g.inputs], outputs: [], valueInfo };
  const b = new GraphBuilder(graph);
  const cts = outs.map((o) => {
    const ct = b.fresh(`${o.name}_cotangent`);
    graph.inputs.push({ name: ct, type: o.type, unknown: [] });
    return ct;
  });
  const terms = outs.map((o, k) => b.op('ReduceSum', [b.op('Mul', [o.name, cts[k]])], { keepdims: 0 }));
  const loss = terms.length === 1 ? terms[0] : b.op('Sum', terms);
  graph.outputs = [
    { name: loss, type: { elemType: outs[0]?.type.elemType ?? DataType.FLOAT, shape: [] }, unknown: [] },
  ];
  const model: Model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'pseudoword',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph,
    metadataProps: [],
    unknown: [],
  };
  const m = differentiate(model, { of: loss, wrt });
  const v = m.opsetImport.find((o) => o.domain === '')?.version ?? opset;
  return { graph: m.graph, cts, grads: wrt.map((w) => `${w}_grad`), opset: v };
};

/** Copies `g` into the graph `em` writes, its inputs bound by `bind`; returns where its outputs went. */
export const inlineGraph = (em: GradEmitter, g: Graph, bind: ReadonlyMap<string, string>): string[] => {
  const { nodes, initializers, at } = renameInto(g, bind, (base) => em.b.fresh(base));
  for (const t of initializers) {
    em.b.graph.initializers.push(t);
    em.facts.set(t.name, { elem: t.dataType, shape: [...t.dims] });
  }
  for (const n of nodes) {
    em.b.graph.nodes.push(n);
    em.facts.infer(n);
  }
  return g.outputs.map((o) => at(o.name));
};
