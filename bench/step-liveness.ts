/**
 * Where the SD1.5-size step graph's activation memory goes: the graph's nodes run in onnxruntime's default order
 * (a depth-first post-order from the outputs that explores a node's highest-index input first), each value
 * allocated when made and freed after its last reader (views — Reshape, Squeeze, Unsqueeze, Flatten, Identity —
 * share their input's buffer). Prints the peak of live bytes (per batch element, symbolic dims as 1), the node it is
 * reached at, and the largest values live there grouped by producer kind. A model of onnxruntime's planner, not a
 * measurement: it ignores in-place reuse, the arena's rounding and onnxruntime's own graph rewrites.
 *   npx bun bench/step-liveness.ts [--split never|<bytes>] [--top 25]   (after `npx bun bench/sd15-step.ts build`)
 */
import { join } from 'node:path';
import { cacheDir } from '../adapters/project-paths.ts';
import { readFile } from '../adapters/fs.ts';
import { decodeModel, DataType, type Node } from '../weights/onnx/proto.ts';
import { ValueFacts } from '../weights/autodiff/shape-infer.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { buildTrainGraph } from '../weights/training/train-graph.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const split = arg('split');
const top = Number(arg('top') ?? 25);
const dir = join(cacheDir(), 'models', 'sd15-random');
const te = injectVectors(decodeModel(readFile(join(dir, 'text_encoder', 'model.onnx'))));
const unet = decodeModel(readFile(join(dir, 'unet', 'model.onnx')));
const model = buildTrainGraph(te.model, unet, {
  latent: [4, 64, 64],
  sequence: 77,
  grad: split ? { splitAttention: split === 'never' ? 'never' : Number(split) } : {},
});
const g = model.graph;
const facts = ValueFacts.forGraph(g, 17, g.nodes);
const bytesPer: Partial<Record<number, number>> = { [DataType.FLOAT16]: 2, [DataType.DOUBLE]: 8, [DataType.INT64]: 8 };
const size = (v: string) => {
  const f = facts.get(v);
  if (!f?.shape) return 0;
  return f.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1) * (bytesPer[f.elem] ?? 4);
};
const views = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity']);

// onnxruntime's default order: post-order DFS from the graph outputs, highest-index input first.
const index = new Map(g.nodes.map((n, i) => [n, i] as const));
const producer = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
const order: Node[] = [];
const seen = new Set<Node>();
const visit = (root: Node) => {
  const stack: [Node, boolean][] = [[root, false]];
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) {
      order.push(n);
      continue;
    }
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push([n, true]);
    const deps = [...new Set(n.inputs.map((i) => producer.get(i)).filter((p): p is Node => !!p && !seen.has(p)))];
    // Pushed lowest index first, so the highest-index input is explored first.
    deps.sort((a, b) => index.get(a)! - index.get(b)!);
    for (const d of deps) stack.push([d, false]);
  }
};
for (const o of g.outputs) {
  const p = producer.get(o.name);
  if (p) visit(p);
}

// Buffers: a view's output is its input's buffer.
const buffer = new Map<string, string>();
const root = (v: string): string => buffer.get(v) ?? v;
for (const n of order) if (views.has(n.opType)) buffer.set(n.outputs[0], root(n.inputs[0]));
const lastUse = new Map<string, number>();
order.forEach((n, i) => {
  for (const v of n.inputs) if (v && producer.has(v)) lastUse.set(root(v), i);
});
for (const o of g.outputs) lastUse.set(root(o.name), order.length);
const live = new Map<string, number>();
let [cur, peak, at] = [0, 0, 0];
let peakLive: [string, number][] = [];
order.forEach((n, i) => {
  for (const o of n.outputs) {
    if (!o || views.has(n.opType)) continue;
    const s = size(o);
    live.set(o, s);
    cur += s;
  }
  if (cur > peak) {
    [peak, at] = [cur, i];
    peakLive = [...live.entries()];
  }
  for (const v of new Set(n.inputs.map((u) => u && root(u)))) {
    if (v && live.has(v) && lastUse.get(v) === i) {
      cur -= live.get(v)!;
      live.delete(v);
    }
  }
  for (const o of n.outputs) if (o && live.has(o) && !lastUse.has(o)) (cur -= live.get(o)!), live.delete(o);
});
const mib = (b: number) => +(b / 2 ** 20).toFixed(1);
const forwardNodes = new Set(g.nodes.filter((n) => !n.name.includes('/grad') && !n.name.includes('recompute')));
const kind = (v: string) => {
  const p = producer.get(v)!;
  return `${forwardNodes.has(p) ? 'forward' : 'backward'} ${p.opType}`;
};
const byKind = new Map<string, number>();
for (const [v, s] of peakLive) byKind.set(kind(v), (byKind.get(kind(v)) ?? 0) + s);
console.log(
  JSON.stringify({
    nodes: g.nodes.length,
    peakMiB: mib(peak),
    atNode: order[at].name,
    liveValues: peakLive.length,
  }),
);
console.log('live at the peak, by producer:');
for (const [k, s] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${mib(s)} MiB  ${k}`);
console.log('largest live values:');
for (const [v, s] of peakLive.sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${mib(s)} MiB  ${v}`);
