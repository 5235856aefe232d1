/**
 * Renames every value, node and initializer of a graph through a function, so two graphs can be merged into
 * one without clashes (the text encoder and the UNet both have a `/Constant_output_0`, say). Graph inputs the
 * caller wants to keep or rewire are mapped by the same function.
 */
import type { Graph } from './proto.ts';
import { renameTensorProto } from './tensor-proto.ts';

export const renameGraph = (g: Graph, rename: (name: string) => string): Graph => {
  const r = (n: string) => (n === '' ? '' : rename(n)); // '' marks an omitted optional input
  return {
    ...g,
    nodes: g.nodes.map((n) => ({
      ...n,
      name: n.name ? r(n.name) : n.name,
      inputs: n.inputs.map(r),
      outputs: n.outputs.map(r),
    })),
    initializers: g.initializers.map((t) => (r(t.name) === t.name ? t : renameTensorProto(t, r(t.name)))),
    inputs: g.inputs.map((v) => ({ ...v, name: r(v.name) })),
    outputs: g.outputs.map((v) => ({ ...v, name: r(v.name) })),
    valueInfo: g.valueInfo.map((v) => ({ ...v, name: r(v.name) })),
  };
};
