/**
 * Rematerialisation: forward values the backward reads that are one cheap elementwise op away from values it
 * keeps anyway (or from constants) are recomputed in the backward instead of held through it. GELU's erf chain
 * and SiLU's σ(x) are the common cases: the backward then keeps x alone, and onnxruntime can fuse the forward
 * x·σ(x) again (a second reader of σ(x) blocks that fusion).
 *
 * onnxruntime's common-subexpression elimination would merge a plain copy of a forward node back into it, so
 * each recomputed chain starts from a Reshape view of its input (no copy) that the forward does not have.
 */
import type { Graph, Node } from '../onnx/proto.ts';
import type { GradEmitter } from './grad-emitter.ts';

/** Elementwise ops (and views) worth recomputing rather than keeping. */
const cheap = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Abs', 'Erf', 'Sigmoid', 'Tanh', 'Exp', 'Sqrt', 'Reciprocal', 'Relu',
  'LeakyRelu', 'Sin', 'Cos', 'Pow', 'Cast', 'Where', 'Identity', 'Reshape', 'Squeeze', 'Unsqueeze',
]);
const maxDepth = 4;

/**
 * Rewrites the backward nodes (from index `from` on) to recompute what is cheap to recompute; `outputs` are
 * values kept to the end anyway (never recomputed).
 */
export const rematerialize = (g: Graph, from: number, em: GradEmitter, outputs: ReadonlySet<string>): void => {
  const forward = g.nodes.slice(0, from);
  const backward = g.nodes.slice(from);
  const producer = new Map(forward.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const consts = new Set([...g.initializers.map((t) => t.name), ...forward.filter((n) => n.opType === 'Constant').flatMap((n) => n.outputs)]);
  // Forward values the backward reads (a Shape read is moved into the forward and keeps nothing alive), and graph
  // inputs, which live through the whole run anyway.
  const kept = new Set(backward.flatMap((n) => (n.opType === 'Shape' ? [] : n.inputs.filter((i) => producer.has(i)))));
  for (const i of g.inputs) kept.add(i.name);

  const memo = new Map<string, boolean>();
  const recomputable = (v: string, depth = 0): boolean => {
    if (memo.has(v)) return memo.get(v)!;
    const p = producer.get(v);
    const ok = !!p && depth <= maxDepth && cheap.has(p.opType) && !p.domain && p.outputs.length === 1 && !outputs.has(v) &&
      p.inputs.some((u) => u && !consts.has(u)) && // a value of constants alone is left to constant folding
      p.inputs.every((u) => !u || consts.has(u) || kept.has(u) || recomputable(u, depth + 1));
    memo.set(v, ok);
    return ok;
  };
  const redo = new Set([...kept].filter((v) => recomputable(v)));
  if (redo.size === 0) return;

  const clones = new Map<string, string>();
  const before: Node[] = [];
  const clone = (v: string): string => {
    if (clones.has(v)) return clones.get(v)!;
    const p = producer.get(v)!;
    let ins = p.inputs.map((u) => (u && !consts.has(u) && (redo.has(u) || !kept.has(u)) ? clone(u) : u));
    if (ins.every((u, k) => u === p.inputs[k])) {
      // A Reshape view of the first non-constant input keeps the copy distinct from the forward node.
      const k = ins.findIndex((u) => u && !consts.has(u));
      const view = em.b.fresh(`${ins[k]}/recompute_view`);
      before.push({ name: em.b.fresh(`${p.name || p.opType}/recompute_view`), opType: 'Reshape', domain: '', inputs: [ins[k], em.reshapeTo(ins[k])], outputs: [view], attributes: [], unknown: [] });
      ins = ins.map((u, j) => (j === k ? view : u));
    }
    const out = em.b.fresh(`${v}/recomputed`);
    before.push({ ...p, name: em.b.fresh(`${p.name || p.opType}/recompute`), inputs: ins, outputs: [out] });
    clones.set(v, out);
    return out;
  };
  const rewritten = backward.flatMap((n) => {
    before.length = 0;
    const inputs = n.opType === 'Shape' ? n.inputs : n.inputs.map((i) => (redo.has(i) ? clone(i) : i));
    return [...before, { ...n, inputs }];
  });
  // reshapeTo may have appended Shape nodes of forward values: they go first (the driver later moves them next to
  // their producers).
  g.nodes = [...forward, ...g.nodes.slice(from + backward.length), ...rewritten];
};
