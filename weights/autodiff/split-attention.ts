/**
 * Big attention split over its heads before differentiating, so no score matrix of all heads is ever live.
 *
 * At SD's 64×64 latents a self-attention's scores S = Q·Kᵀ and probabilities P = Softmax(S) are [B, 8, 4096, 4096]:
 * 512 MiB each, for all heads at once. The forward holds two of them (S while P is made); the backward (which
 * recomputes P, remat.ts) holds P, dP and P·dP-sized values together — about 2 GiB at the step's peak, for one
 * attention whose heads are independent of each other. Computing the chain per group of heads,
 *   Qᵢ, Kᵢᵀ, Vᵢ = Split(Q), Split(Kᵀ), Split(V) over the head axis;  Oᵢ = Softmax(s·Qᵢ·Kᵢᵀ [+ Mᵢ])·Vᵢ;  O = Concat(Oᵢ),
 * is the same function (every op in the chain acts on each head separately), and the backward of a Split is a Concat,
 * so the differentiated chains stay per group too. onnxruntime's execution order is a depth-first walk from the
 * outputs, which finishes one group's chain before it starts the next, so only one group's matrices are live:
 * 64 MiB at a time instead of 512. Costs a Split of Q, K, V and a Concat of O (Q-sized copies, 5 MiB at that size).
 */
import { DataType, type Graph, type Node } from '../onnx/proto.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import type { ValueFacts } from './shape-infer.ts';

/** Ops allowed between the score MatMul and the Softmax (scaling, masking, casts), as in remat.ts. */
const scoreOps = new Set(['Mul', 'Div', 'Add', 'Sub', 'Cast', 'Where']);
const bytesPer: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.DOUBLE]: 8,
};

/** A recognised chain MatMul → score ops → Softmax → MatMul(P, V), with every intermediate read once. */
interface Chain {
  nodes: Node[]; // in forward order: score MatMul, score ops, Softmax, P·V MatMul
  /** The scores' dims, symbolic ones (the batch) as 1: sizes per batch element. */
  scores: readonly number[];
}

/** Dims with symbolic ones as 1, when the last two (N and M) are static. */
const perBatch = (facts: ValueFacts, v: string): number[] | undefined => {
  const s = facts.get(v)?.shape;
  return s && s.length >= 3 && s.slice(-2).every((d) => typeof d === 'number')
    ? s.map((d) => (typeof d === 'number' ? d : 1))
    : undefined;
};
const sameShape = (facts: ValueFacts, a: string, b: string) =>
  JSON.stringify(facts.get(a)?.shape) === JSON.stringify(facts.get(b)?.shape);

const chainAt = (
  sm: Node,
  producer: ReadonlyMap<string, Node>,
  readers: ReadonlyMap<string, readonly Node[]>,
  outputs: ReadonlySet<string>,
  facts: ValueFacts,
): Chain | undefined => {
  const p = sm.outputs[0];
  const scores = perBatch(facts, p);
  if (!scores) return undefined;
  const axis = Number(sm.attributes.find((a) => a.name === 'axis')?.i ?? (facts.opset >= 13 ? -1 : 1));
  if (axis !== -1 && axis !== scores.length - 1) return undefined;
  const once = (v: string) => readers.get(v)?.length === 1 && !outputs.has(v);
  if (!once(p)) return undefined;
  const nodes: Node[] = [sm];
  let cur = sm.inputs[0];
  for (let depth = 0; depth <= 4; depth++) {
    const n = producer.get(cur);
    if (!n || n.domain || n.outputs.length !== 1 || !once(cur)) return undefined;
    if (n.opType === 'MatMul') {
      nodes.unshift(n);
      break;
    }
    if (!scoreOps.has(n.opType)) return undefined;
    nodes.unshift(n);
    // The chain goes on through the input shaped like the scores; the others (scale, mask) are side inputs.
    const next = n.inputs.find((u) => u && sameShape(facts, u, p));
    if (!next) return undefined;
    cur = next;
  }
  if (nodes[0].opType !== 'MatMul') return undefined;
  return { nodes, scores };
};

/** The P·V MatMul reading the Softmax's output as its left operand, when that is its only reader. */
const productOf = (p: string, readers: ReadonlyMap<string, readonly Node[]>): Node | undefined => {
  const rs = readers.get(p) ?? [];
  return rs.length === 1 && rs[0].opType === 'MatMul' && !rs[0].domain && rs[0].inputs[0] === p ? rs[0] : undefined;
};

/**
 * Q, Kᵀ and V split per group through one packed tensor: QKV = Concat(Q, K, V) over the last axis (K = Kᵀ
 * transposed back), split over the heads, each group's q, k, v sliced out of its part. Not for the forward's sake:
 * the backward of a group's slices is one sum, d(part) = pad(dq) + pad(dk) + pad(dv), and the backward of the
 * head split one Concat of those sums, so onnxruntime's depth-first order finishes each group's whole backward —
 * its recomputed P, dP and dS, and dQ, dK, dV — before it starts the next. With three separate splits, their three
 * Concats are walked one after another: every group's recomputed P is made for the dV Concat and held until the
 * dK and dQ Concats read it, all heads' N×N values live together again. Undefined (plain splits) when the shapes
 * do not pack: a static head width, as many keys as queries, opset 13 or later (Slice with inputs, Split sizes).
 */
const packed = (
  b: GraphBuilder,
  mm: Node,
  pv: Node,
  plan: ReadonlyMap<string, number | 'shared'>,
  facts: ValueFacts,
  splitHeads: (u: string, axis: number) => string[],
  tag: string,
): Map<string, string[]> | undefined => {
  const [q, kt] = mm.inputs;
  const v = pv.inputs[1];
  const [sq, sk, sv] = [q, kt, v].map((u) => facts.get(u)?.shape);
  const axis = plan.get(q);
  if (facts.opset < 13 || typeof axis !== 'number' || !sq || !sk || !sv) return undefined;
  if (plan.get(kt) !== axis || plan.get(v) !== axis || sk.length !== sq.length || sv.length !== sq.length)
    return undefined;
  const r = sq.length;
  const [n, d] = sq.slice(-2);
  const [dk, m] = sk.slice(-2);
  const [mv, dv] = sv.slice(-2);
  if (typeof d !== 'number' || typeof dv !== 'number' || d !== dk || n !== m || m !== mv || typeof n !== 'number')
    return undefined;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  const k = b.op('Transpose', [kt], { perm }, { name: `${tag}/pack_k` });
  const qkv = b.op('Concat', [q, k, v], { axis: -1 }, { name: `${tag}/pack_qkv` });
  const cut = (part: string, from: number, to: number) =>
    b.op('Slice', [part, b.constI64([from]), b.constI64([to]), b.constI64([-1])], {}, { name: `${tag}/unpack` });
  const parts = splitHeads(qkv, axis);
  return new Map([
    [q, parts.map((p) => cut(p, 0, d))],
    [kt, parts.map((p) => b.op('Transpose', [cut(p, d, 2 * d)], { perm }, { name: `${tag}/unpack_k` }))],
    [v, parts.map((p) => cut(p, 2 * d, 2 * d + dv))],
  ]);
};

/**
 * Splits each attention whose score matrix (all heads, per batch element) exceeds `maxBytes` into groups of heads of at most that
 * size where the head count allows (one head per group otherwise). Rewrites `graph` in place; returns how many
 * attentions it split. Chains whose values are read elsewhere or whose shapes are not static are left alone.
 */
export const splitAttention = (graph: Graph, facts: ValueFacts, maxBytes: number): number => {
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const readers = new Map<string, Node[]>();
  for (const n of graph.nodes)
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      const rs = readers.get(i);
      if (rs) rs.push(n);
      else readers.set(i, [n]);
    }
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const b = new GraphBuilder(graph);
  const removed = new Set<Node>();
  let count = 0;
  for (const sm of graph.nodes.filter((n) => n.opType === 'Softmax' && !n.domain)) {
    const chain = chainAt(sm, producer, readers, outputs, facts);
    const pv = chain && productOf(sm.outputs[0], readers);
    if (!chain || !pv) continue;
    const { scores } = chain;
    const r = scores.length;
    const bytes = scores.reduce((a, d) => a * d, 1) * (bytesPer[facts.get(sm.outputs[0])?.elem ?? 0] ?? 4);
    if (bytes <= maxBytes) continue;
    // The head axis: the largest static leading axis of the scores (a symbolic batch counts as 1).
    const lead = scores.slice(0, r - 2);
    const axis = lead.indexOf(Math.max(...lead));
    const heads = scores[axis];
    if (heads < 2) continue;
    let groups = heads;
    for (let g = 2; g < heads; g++) {
      if (heads % g === 0 && bytes / g <= maxBytes) {
        groups = g;
        break;
      }
    }
    const size = heads / groups;
    // Every value the chain reads from outside it: split along the head axis when it has the heads there,
    // shared when it broadcasts (size 1 or missing axis); anything else and the chain is left alone.
    const chainNodes = [...chain.nodes, pv];
    const inside = new Set(chainNodes.flatMap((n) => n.outputs));
    const outer = [...new Set(chainNodes.flatMap((n) => n.inputs.filter((u) => u && !inside.has(u))))];
    const plan = new Map<string, number | 'shared'>();
    let ok = true;
    for (const u of outer) {
      const s = facts.get(u)?.shape;
      if (!s) {
        ok = false;
        break;
      }
      const ua = s.length - (r - axis);
      if (ua < 0 || s[ua] === 1) plan.set(u, 'shared');
      else if (s[ua] === heads) plan.set(u, ua);
      else ok = false;
    }
    const oShape = facts.get(pv.outputs[0])?.shape;
    if (!ok || !oShape || oShape.length !== r) continue;

    const tag = sm.name || sm.outputs[0];
    const sizes = b.constI64(Array(groups).fill(size), undefined, `${tag}/split_sizes`);
    const splitHeads = (u: string, ua: number) =>
      facts.opset >= 13
        ? b.opN('Split', [u, sizes], groups, { axis: ua }, { name: `${tag}/split_heads` })
        : b.opN('Split', [u], groups, { axis: ua, split: Array(groups).fill(size) }, { name: `${tag}/split_heads` });
    const pieces = packed(b, chain.nodes[0], pv, plan, facts, splitHeads, tag) ?? new Map<string, string[]>();
    for (const [u, ua] of plan) if (ua !== 'shared' && !pieces.has(u)) pieces.set(u, splitHeads(u, ua));
    const parts: string[] = [];
    for (let i = 0; i < groups; i++) {
      const renamed = new Map<string, string>();
      const input = (u: string) => renamed.get(u) ?? pieces.get(u)?.[i] ?? u;
      for (const n of chainNodes) {
        const out = b.fresh(`${n.outputs[0]}/heads${i}`);
        b.graph.nodes.push({
          ...n,
          name: b.fresh(`${n.name || n.opType}/heads${i}`),
          inputs: n.inputs.map(input),
          outputs: [out],
        });
        renamed.set(n.outputs[0], out);
      }
      parts.push(renamed.get(pv.outputs[0])!);
    }
    b.op('Concat', parts, { axis }, { name: `${tag}/concat_heads`, outputs: [pv.outputs[0]] });
    for (const n of chainNodes) removed.add(n);
    count++;
  }
  if (count) graph.nodes = graph.nodes.filter((n) => !removed.has(n));
  return count;
};
