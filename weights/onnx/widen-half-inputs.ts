/**
 * Float16 graph inputs made float32 at the graph's edge: each named input keeps its name, takes float32, and a
 * Cast to float16 right after it feeds the readers that read it before. Callers then feed float32 whatever the
 * export's precision (master weights, latents drawn in float32), and the gradient of such an input comes back in
 * float32 (the Cast's VJP casts it back).
 */
import { AttrType, DataType, type Graph } from './proto.ts';

/** Widens `names` (every float16 input when omitted) in place; returns the names it widened. */
export const widenHalfInputs = (g: Graph, names?: readonly string[]): string[] => {
  const widened = g.inputs
    .filter((v) => v.type?.elemType === DataType.FLOAT16 && (!names || names.includes(v.name)))
    .map((v) => v.name);
  if (!widened.length) return [];
  const inner = new Map(widened.map((n) => [n, `${n}/float16`]));
  const casts = widened.map((n) => ({
    name: `${n}/to_float16`,
    opType: 'Cast',
    domain: '',
    inputs: [n],
    outputs: [inner.get(n)!],
    attributes: [{ name: 'to', type: AttrType.INT, i: DataType.FLOAT16, unknown: [] }],
    unknown: [],
  }));
  g.nodes = [...casts, ...g.nodes.map((n) => ({ ...n, inputs: n.inputs.map((v) => inner.get(v) ?? v) }))];
  g.inputs = g.inputs.map((v) =>
    inner.has(v.name) && v.type ? { ...v, type: { ...v.type, elemType: DataType.FLOAT } } : v,
  );
  return widened;
};
