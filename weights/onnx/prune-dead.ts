import type { Graph } from './proto.ts';
import { topoOrder } from './graph-walk.ts';

/**
 * Drops nodes, initializers and inputs no output depends on (a composed text encoder's pooler, say), and puts
 * the nodes in topological order (a caller may have appended nodes that earlier parts consume).
 */
export const pruneDead = (g: Graph): void => {
  g.nodes = topoOrder(g);
  const needed = new Set(g.outputs.map((o) => o.name));
  const keep = new Array(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep[i] = true;
    n.inputs.forEach((x) => needed.add(x));
  }
  g.nodes = g.nodes.filter((_, i) => keep[i]);
  g.initializers = g.initializers.filter((t) => needed.has(t.name));
  g.inputs = g.inputs.filter((i) => needed.has(i.name));
};
