/**
 * A scalar factor moved from a big MatMul operand to its (smaller) product: MatMul(c·X, Y) = c·MatMul(X, Y).
 *
 * The VJP of attention's score scaling S = s·(Q·Kᵀ) is dM = s·dS over the whole [B, H, N, N] score matrix, and dM
 * feeds two products (dQ = dM·K, dK = dMᵀ·Q). onnxruntime folds a scalar Mul into a MatMul only when the MatMul
 * is its single reader, so the scaling stays one full pass over N×N (512 MiB per attention at SD's 64×64 latents).
 * Scaling each product instead touches [B, H, N, d] values, and onnxruntime can fuse that Mul into the MatMul.
 */
import type { Graph, Node } from '../onnx/proto.ts';
import type { GradEmitter } from './grad-emitter.ts';

const numel = (s: readonly unknown[] | undefined) =>
  s?.every((d) => typeof d === 'number') ? (s as number[]).reduce((a, d) => a * d, 1) : undefined;

/**
 * Rewrites backward nodes (index ≥ `from`): a Mul by (or Div by) a scalar constant whose readers are all MatMuls,
 * each product smaller than the scaled operand, is dropped and each MatMul's product is scaled instead.
 * `outputs` are graph outputs, never rewritten.
 */
export const scaleThroughMatMul = (g: Graph, from: number, em: GradEmitter, outputs: ReadonlySet<string>): void => {
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const i of new Set(n.inputs)) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  const scalar = (v: string) => em.values(v)?.length === 1 && (em.shape(v)?.length ?? 9) <= 1;
  const replaced = new Map<Node, Node[]>(); // a node → the nodes standing in its place
  for (const n of g.nodes.slice(from)) {
    if (n.domain || (n.opType !== 'Mul' && n.opType !== 'Div') || n.inputs.length !== 2) continue;
    const k = n.opType === 'Div' ? (scalar(n.inputs[1]) ? 1 : -1) : n.inputs.findIndex(scalar);
    if (k < 0) continue;
    const [c, x, y] = [n.inputs[k], n.inputs[1 - k], n.outputs[0]];
    const rs = readers.get(y) ?? [];
    const size = numel(em.shape(x));
    if (
      outputs.has(y) ||
      rs.length === 0 ||
      size === undefined ||
      em.elem(x) !== em.elem(c) ||
      !rs.every(
        (m) =>
          m.opType === 'MatMul' &&
          !m.domain &&
          !replaced.has(m) &&
          m.inputs.filter((i) => i === y).length === 1 &&
          (numel(em.shape(m.outputs[0])) ?? Infinity) < size,
      )
    )
      continue;
    for (const m of rs) {
      const product = em.b.fresh(`${m.outputs[0]}/unscaled`);
      em.facts.set(product, em.facts.get(m.outputs[0])!);
      const scaled: Node = {
        name: em.b.fresh(`${n.name}/after_matmul`),
        opType: n.opType,
        domain: '',
        inputs: [product, c], // c·P and P/c both keep the product first
        outputs: [m.outputs[0]],
        attributes: [],
        unknown: [],
      };
      replaced.set(m, [{ ...m, inputs: m.inputs.map((i) => (i === y ? x : i)), outputs: [product] }, scaled]);
    }
    replaced.set(n, []);
  }
  if (replaced.size) g.nodes = g.nodes.flatMap((n) => replaced.get(n) ?? [n]);
};
