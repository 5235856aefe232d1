/** Graph traversal: topological order, and the activity analysis the autodiff prunes with. */
import type { Graph, Node } from './proto.ts';

/**
 * The graph's nodes in topological order (Kahn's algorithm, stable with respect to file order), whatever order
 * the file lists them in.
 *
 * @example
 * topoOrder(model.graph).map((n) => n.opType)
 */
export const topoOrder = (g: Graph): Node[] => {
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const pending = new Map<Node, number>();
  const users = new Map<Node, Node[]>();
  for (const n of g.nodes) {
    const deps = new Set(n.inputs.map((i) => producer.get(i)).filter((p): p is Node => !!p && p !== n));
    pending.set(n, deps.size);
    for (const d of deps) users.set(d, [...(users.get(d) ?? []), n]);
  }
  const ready = g.nodes.filter((n) => pending.get(n) === 0);
  const out: Node[] = [];
  for (let i = 0; i < ready.length; i++) {
    out.push(ready[i]);
    for (const u of users.get(ready[i]) ?? []) {
      const k = pending.get(u)! - 1;
      pending.set(u, k);
      if (k === 0) ready.push(u);
    }
  }
  if (out.length !== g.nodes.length)
    throw new Error(
      `graph has a cycle or a missing producer (${g.nodes.length - out.length} nodes never became ready)`,
    );
  return out;
};

/** The result of activity analysis. */
export interface Activity {
  /** Nodes on a differentiable path from a `wrt` value to `of`, in topological order: they get VJPs. */
  active: Node[];
  /** Values that depend differentiably on a `wrt` value. */
  varied: Set<string>;
}

/**
 * Activity analysis: forward reachability from `wrt` ∩ backward reachability from `of`, both only through ops
 * gradients pass (`passes`) and values that can carry them (`carries`: float, not integer or bool).
 */
export const activity = (
  order: readonly Node[],
  wrt: readonly string[],
  of: string,
  passes: (n: Node) => boolean,
  carries: (value: string) => boolean,
): Activity => {
  const varied = new Set(wrt);
  for (const n of order)
    if (passes(n) && n.inputs.some((i) => varied.has(i))) for (const o of n.outputs) if (o && carries(o)) varied.add(o);
  const useful = new Set([of]);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    if (passes(n) && n.outputs.some((o) => useful.has(o))) for (const i of n.inputs) if (i) useful.add(i);
  }
  const active = order.filter(
    (n) => passes(n) && n.inputs.some((i) => varied.has(i)) && n.outputs.some((o) => useful.has(o) && varied.has(o)),
  );
  return { active, varied };
};
