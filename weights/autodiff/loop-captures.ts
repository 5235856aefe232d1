/**
 * Outer values that a subgraph reads by name (not through the node's inputs) are invisible to the driver.
 * If's branches read all their operands that way: `branchReadsAsInputs` gives the driver a view of an If node with
 * those reads appended as inputs (the graph keeps the real node), so activity analysis sees them and rules/if.ts
 * returns their gradients; the same for the body of an opset-8 Scan (rules/loop.ts).
 *
 * Outer values that a Loop or Scan body reads by name (not through the node's inputs) are invisible to the driver,
 * so no gradient could reach them. Where such a value lies on a gradient path, the node is rewritten to carry it as
 * one more state passed through unchanged (body: v_in → Identity → v_out): the same forward values, and now the
 * body's use of v at every step sends its gradient back along the state, summed over the steps (rules/loop.ts).
 */
import { attr } from '../onnx/builder.ts';
import type { Graph, Node } from '../onnx/proto.ts';
import { renameRefs } from './subgraph-vjp.ts';

/** Names a graph reads that it does not define (its own nested subgraphs' outer reads included). */
export const outerReads = (g: Graph): Set<string> => {
  const defined = new Set([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
  for (const n of g.nodes) for (const o of n.outputs) defined.add(o);
  const reads = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) reads.add(i);
    for (const a of n.attributes)
      for (const s of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])])
        for (const r of outerReads(s)) if (!defined.has(r)) reads.add(r);
  }
  return reads;
};

/**
 * Loop and Scan nodes whose bodies read any of `varied` from outside, each mapped to its rewrite carrying those
 * values as pass-through states; `fresh` names the new values.
 */
export const carryCaptures = (
  nodes: readonly Node[],
  varied: ReadonlySet<string>,
  fresh: (base: string) => string,
  opset: number,
): Map<Node, Node> => {
  const out = new Map<Node, Node>();
  for (const n of nodes) {
    if ((n.domain && n.domain !== 'ai.onnx') || (n.opType !== 'Loop' && n.opType !== 'Scan')) continue;
    if (n.opType === 'Scan' && opset < 9) continue; // seen with its reads as inputs instead (branchReadsAsInputs)
    const body = attr<Graph | undefined>(n, 'body', undefined);
    if (!body) continue;
    const caught = [...outerReads(body)].filter((v) => varied.has(v));
    if (caught.length === 0) continue;
    // Loop: inputs (M, cond, states…), body (iter, cond, states…) → (cond, states…, scans…).
    // Scan: inputs (states…, scans…), body (states…, scans…) → (states…, scans…); states end at N.
    const N = n.opType === 'Loop' ? n.inputs.length - 2 : n.inputs.length - attr(n, 'num_scan_inputs', 0);
    const [inAt, bodyInAt, bodyOutAt] = n.opType === 'Loop' ? [n.inputs.length, 2 + N, 1 + N] : [N, N, N];
    const g = passThrough(body, caught, bodyInAt, bodyOutAt, fresh);
    const finals = caught.map((v) => fresh(`${v}/final`));
    out.set(n, {
      ...n,
      inputs: [...n.inputs.slice(0, inAt), ...caught, ...n.inputs.slice(inAt)],
      outputs: [...n.outputs.slice(0, N), ...finals, ...n.outputs.slice(N)],
      attributes: n.attributes.map((a) => (a.name === 'body' ? { ...a, g } : a)),
    });
  }
  return out;
};

/**
 * `body` reading the outer values `caught` through new inputs instead, each passed through unchanged to a new output
 * (v_in → Identity → v_out), the inputs inserted at `inAt` and the outputs at `outAt`.
 */
export const passThrough = (
  body: Graph,
  caught: readonly string[],
  inAt: number,
  outAt: number,
  fresh: (base: string) => string,
): Graph => {
  const inner = new Map(caught.map((v) => [v, fresh(`${v}/carried`)]));
  const passed = caught.map((v) => fresh(`${v}/passed`));
  const renamed = renameRefs(body, (v) => inner.get(v) ?? v);
  const ins = caught.map((v) => ({ name: inner.get(v)!, unknown: [] }));
  const outs = passed.map((p) => ({ name: p, unknown: [] }));
  const ids: Node[] = caught.map((v, k) => ({
    name: fresh(`${v}/pass`),
    opType: 'Identity',
    domain: '',
    inputs: [inner.get(v)!],
    outputs: [passed[k]],
    attributes: [],
    unknown: [],
  }));
  return {
    ...renamed,
    inputs: [...renamed.inputs.slice(0, inAt), ...ins, ...renamed.inputs.slice(inAt)],
    outputs: [...renamed.outputs.slice(0, outAt), ...outs, ...renamed.outputs.slice(outAt)],
    nodes: [...renamed.nodes, ...ids],
  };
};

/**
 * A node as the driver sees it (other nodes unchanged): an If with its branches' outer reads appended to its inputs;
 * a Scan of opset 8 likewise with its body's (its states have a batch axis, so they cannot carry them; rules/loop.ts
 * makes them per-element states itself).
 */
export const branchReadsAsInputs = (n: Node, opset: number): Node => {
  if (n.domain && n.domain !== 'ai.onnx') return n;
  if (n.opType === 'Scan' && opset < 9) {
    const body = attr<Graph | undefined>(n, 'body', undefined);
    const reads = body ? [...outerReads(body)] : [];
    return reads.length ? { ...n, inputs: [...n.inputs, ...reads] } : n;
  }
  if (n.opType !== 'If') return n;
  const reads = new Set<string>();
  for (const a of n.attributes) if (a.g) for (const r of outerReads(a.g)) reads.add(r);
  const extra = [...reads].filter((r) => !n.inputs.includes(r));
  return extra.length ? { ...n, inputs: [...n.inputs, ...extra] } : n;
};
