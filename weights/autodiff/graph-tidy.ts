/** Post-passes over the forward+backward node list: where Shape reads go, and dropping unused backward nodes. */
import type { Graph, Node } from '../onnx/proto.ts';

/**
 * Moves Shape nodes that read forward values to right after the value's producer. onnxruntime runs nodes
 * roughly in list order; a Shape emitted in the backward section would otherwise keep a whole activation alive
 * just to read its dims.
 */
export const placeShapeNodes = (nodes: Node[], shapeNodes: ReadonlySet<Node>): Node[] => {
  const moved = nodes.filter((n) => shapeNodes.has(n));
  if (moved.length === 0) return nodes;
  const rest = nodes.filter((n) => !shapeNodes.has(n));
  const after = new Map<string, Node[]>();
  const head: Node[] = [];
  const produced = new Set(rest.flatMap((n) => n.outputs));
  for (const s of moved) {
    const v = s.inputs[0];
    if (produced.has(v)) after.set(v, [...(after.get(v) ?? []), s]);
    else head.push(s);
  }
  return [...head, ...rest.flatMap((n) => [n, ...n.outputs.flatMap((o) => after.get(o) ?? [])])];
};

/** Every name the subgraphs of `n` (Loop, Scan, If bodies) read, their own included: what they keep alive outside. */
const readInside = (n: Node): string[] =>
  n.attributes.flatMap((a) =>
    [...(a.g ? [a.g] : []), ...(a.graphs ?? [])].flatMap((g) =>
      g.nodes.flatMap((m) => [...m.inputs, ...readInside(m)]),
    ),
  );

/**
 * Drops nodes from index `from` on whose outputs nothing reads, and initializers from `fromInit` on likewise (a
 * subgraph's reads of outer values count as reads).
 */
export const dropUnused = (g: Graph, from: number, fromInit: number): void => {
  const keep = new Set(g.outputs.map((o) => o.name));
  const live: Node[] = [];
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k];
    if (k < from || n.outputs.some((o) => keep.has(o))) {
      live.push(n);
      for (const i of n.inputs) keep.add(i);
      for (const i of readInside(n)) keep.add(i);
    }
  }
  g.nodes = live.reverse();
  g.initializers = g.initializers.filter((t, k) => k < fromInit || keep.has(t.name));
};
