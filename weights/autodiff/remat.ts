/**
 * Rematerialisation: forward values the backward reads that are one cheap elementwise op away from values it
 * keeps anyway (or from constants) are recomputed in the backward instead of held through it. GELU's erf chain
 * and SiLU's σ(x) are the common cases: the backward then keeps x alone, and onnxruntime can fuse the forward
 * x·σ(x) again (a second reader of σ(x) blocks that fusion).
 *
 * Attention probabilities are the other case: P = Softmax(s·Q·Kᵀ [+ M]) is [B, H, N, N] while Q and K are
 * [B, H, N, d]; at SD's 64×64 latents N = 4096, d = 40, so P is 512 MiB and Q, K 5 MiB each. The Softmax VJP
 * (dS = P·(dP − Σ dP·P)) and the P·V MatMul's dV = Pᵀ·dO read P; recomputing the chain MatMul → scale/mask →
 * Softmax from Q and K in the backward costs one N×N×d product and one softmax per attention and frees P from
 * the end of its forward use to its backward.
 *
 * onnxruntime's common-subexpression elimination would merge a plain copy of a forward node back into it, so
 * each recomputed chain starts from a Reshape view of its input (no copy) that the forward does not have.
 *
 * onnxruntime's default execution order is a depth-first post-order from the outputs that explores a node's
 * input with the highest node index first. The recomputed nodes sit right before their backward reader, so they
 * usually have the highest index among its inputs: the walk emits them as soon as Q and K exist — in the middle
 * of the forward — and the recomputed P is held from there anyway. An attention chain therefore starts from
 * Q' = Q + 0·g[0], where g is the cotangent that reaches the VJP reading P (dO or dP of that same attention): a
 * data dependency on the backward that onnxruntime cannot fold (0·x is NaN for infinite x, so it is no identity
 * to an optimiser), which forces the recompute after that cotangent exists. Q' also serves as the distinct view.
 */
import type { Graph, Node } from '../onnx/proto.ts';
import { attribute } from '../onnx/builder.ts';
import type { GradEmitter, GradOptions } from './grad-emitter.ts';

/** Elementwise ops (and views) worth recomputing rather than keeping. */
const cheap = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Neg',
  'Abs',
  'Erf',
  'Sigmoid',
  'Tanh',
  'Exp',
  'Sqrt',
  'Reciprocal',
  'Relu',
  'LeakyRelu',
  'Sin',
  'Cos',
  'Pow',
  'Cast',
  'Where',
  'Identity',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
]);
const maxDepth = 4;

/** Ops allowed between the score MatMul and the Softmax: scaling, masking, casts. */
const scoreOps = new Set(['Mul', 'Div', 'Add', 'Sub', 'Cast', 'Where']);
/** 'auto' recomputes P when both of its last two static dims are at least this (1024² floats = 4 MiB per head). */
const bigScores = 1024;
/** 'auto': side inputs of the chain (Q, Kᵀ, a mask) may be kept for it when together at most this fraction of P. */
const sideFraction = 1 / 8;

export interface RematOptions {
  /** Recompute cheap elementwise values (GradOptions.recompute). */
  elementwise: boolean;
  attention: NonNullable<GradOptions['recomputeAttention']>;
  /** For each backward node, the cotangent that reached the VJP that emitted it (the anchor of an attention recompute).
   */
  cotangentOf?: ReadonlyMap<Node, string>;
}

/**
 * Element count with symbolic dims taken as 1: only used to compare values of one attention with each other, whose
 * symbolic dims (the batch) are the same symbol, so the ratio is right. Undefined when the rank is unknown.
 */
const numel = (s: readonly (number | string | null)[] | undefined): number | undefined =>
  s ? s.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1) : undefined;

/**
 * Rewrites the backward nodes (from index `from` on) to recompute what is cheap to recompute; `outputs` are
 * values kept to the end anyway (never recomputed).
 */
export const rematerialize = (
  g: Graph,
  from: number,
  em: GradEmitter,
  outputs: ReadonlySet<string>,
  o: RematOptions,
): void => {
  const forward = g.nodes.slice(0, from);
  const backward = g.nodes.slice(from);
  const producer = new Map(forward.flatMap((n) => n.outputs.map((v) => [v, n] as const)));
  const consts = new Set([
    ...g.initializers.map((t) => t.name),
    ...forward.filter((n) => n.opType === 'Constant').flatMap((n) => n.outputs),
  ]);
  // Forward values the backward reads (a Shape read is moved into the forward and keeps nothing alive), and graph
  // inputs, which live through the whole run anyway.
  const kept = new Set(backward.flatMap((n) => (n.opType === 'Shape' ? [] : n.inputs.filter((i) => producer.has(i)))));
  for (const i of g.inputs) kept.add(i.name);

  const redo = new Set<string>();
  // Root MatMuls of recomputed attention chains: their clone reads Q' = Q + 0·anchor.
  const roots = new Set<Node>();
  if (o.attention !== 'never') {
    for (const v of [...kept]) {
      const chain = attentionChain(v, producer, consts, kept, outputs, em, o.attention === 'always');
      if (!chain) continue;
      for (const n of chain.nodes) redo.add(n.outputs[0]);
      for (const s of chain.side) kept.add(s); // small values the recompute reads: Q, Kᵀ, a mask
      roots.add(chain.nodes[chain.nodes.length - 1]);
    }
  }

  const memo = new Map<string, boolean>();
  const recomputable = (v: string, depth = 0): boolean => {
    if (memo.has(v)) return memo.get(v)!;
    const p = producer.get(v);
    const ok =
      !!p &&
      depth <= maxDepth &&
      cheap.has(p.opType) &&
      !p.domain &&
      p.outputs.length === 1 &&
      !outputs.has(v) &&
      p.inputs.some((u) => u && !consts.has(u)) && // a value of constants alone is left to constant folding
      p.inputs.every((u) => !u || consts.has(u) || kept.has(u) || recomputable(u, depth + 1));
    memo.set(v, ok);
    return ok;
  };
  if (o.elementwise) for (const v of kept) if (!redo.has(v) && recomputable(v)) redo.add(v);
  if (redo.size === 0) return;

  const clones = new Map<string, string>();
  const before: Node[] = [];
  let anchor: string | undefined; // the cotangent of the backward node being rewritten
  const clone = (v: string): string => {
    if (clones.has(v)) return clones.get(v)!;
    const p = producer.get(v)!;
    let ins = p.inputs.map((u) => (u && !consts.has(u) && (redo.has(u) || !kept.has(u)) ? clone(u) : u));
    const k = ins.findIndex((u) => u && !consts.has(u));
    if (roots.has(p) && anchor) {
      // Q' = Q + 0·g[0]: g is this attention's own cotangent, so the recompute cannot run before the backward
      // reaches it (see the file comment). One scalar from g, times 0, cast to Q's type, broadcast-added.
      ins = ins.map((u, j) => (j === k ? anchored(em, u, anchor!, before) : u));
    } else if (ins.every((u, j) => u === p.inputs[j])) {
      // A Reshape view of the first non-constant input keeps the copy distinct from the forward node.
      const view = em.b.fresh(`${ins[k]}/recompute_view`);
      before.push({
        name: em.b.fresh(`${p.name || p.opType}/recompute_view`),
        opType: 'Reshape',
        domain: '',
        inputs: [ins[k], em.reshapeTo(ins[k])],
        outputs: [view],
        attributes: [],
        unknown: [],
      });
      ins = ins.map((u, j) => (j === k ? view : u));
    }
    const out = em.b.fresh(`${v}/recomputed`);
    before.push({ ...p, name: em.b.fresh(`${p.name || p.opType}/recompute`), inputs: ins, outputs: [out] });
    clones.set(v, out);
    return out;
  };
  const rewritten = backward.flatMap((n) => {
    before.length = 0;
    anchor = o.cotangentOf?.get(n);
    const inputs = n.opType === 'Shape' ? n.inputs : n.inputs.map((i) => (redo.has(i) ? clone(i) : i));
    return [...before, { ...n, inputs }];
  });
  // reshapeTo and the anchors may have appended nodes (Shape of forward values, constants' readers): they go
  // first (the driver later moves Shape nodes next to their producers).
  g.nodes = [...forward, ...g.nodes.slice(from + backward.length), ...rewritten];
};

/** `q + 0·a[0]` as nodes pushed onto `out`: q's value, with a run-time dependency on the backward value `a`. */
const anchored = (em: GradEmitter, q: string, a: string, out: Node[]): string => {
  const node = (opType: string, inputs: string[], attrs: Node['attributes'] = []): string => {
    const y = em.b.fresh(`${q}/recompute_anchor`);
    out.push({
      name: em.b.fresh(`${q}/recompute_anchor/${opType}`),
      opType,
      domain: '',
      inputs,
      outputs: [y],
      attributes: attrs,
      unknown: [],
    });
    return y;
  };
  const first = node('Slice', [node('Reshape', [a, em.ints([-1])]), em.ints([0]), em.ints([1])]);
  const zero = node('Mul', [first, em.scalar(0, em.elem(a))]);
  const typed = em.elem(a) === em.elem(q) ? zero : node('Cast', [zero], [attribute('to', em.elem(q))]);
  return node('Add', [q, typed]);
};

/** A recognised attention chain: its nodes from the Softmax back to the score MatMul, and the values it reads. */
interface Chain {
  nodes: Node[];
  side: string[];
}

/**
 * When `v` is P = Softmax(chain(MatMul(A, B))) over the last axis, with only scaling/masking elementwise ops in
 * the chain and every other input small (constants, or forward values at most `sideFraction` of P), the chain;
 * with `always` false, only for static score matrices of at least bigScores² per head whose side inputs are small.
 */
const attentionChain = (
  v: string,
  producer: ReadonlyMap<string, Node>,
  consts: ReadonlySet<string>,
  kept: ReadonlySet<string>,
  outputs: ReadonlySet<string>,
  em: GradEmitter,
  always: boolean,
): Chain | undefined => {
  const sm = producer.get(v);
  if (sm?.opType !== 'Softmax' || sm.domain || outputs.has(v)) return undefined;
  const shape = em.shape(v);
  if (!shape || shape.length < 2) return undefined;
  const axis = sm.attributes.find((a) => a.name === 'axis')?.i;
  const ax = axis === undefined ? (em.opset >= 13 ? -1 : 1) : Number(axis);
  // Before opset 13 Softmax coerces to 2-D at `axis`; the last axis alone is the same op only when axis = r−1.
  if (ax !== -1 && ax !== shape.length - 1) return undefined;
  const [m, n] = shape.slice(-2);
  if (!always && !(typeof m === 'number' && typeof n === 'number' && m >= bigScores && n >= bigScores))
    return undefined;
  const size = numel(shape);

  const nodes: Node[] = [sm];
  const side: string[] = [];
  const small = (u: string) => {
    if (consts.has(u)) return true;
    const s = numel(em.shape(u));
    return always || (s !== undefined && size !== undefined && s <= size * sideFraction);
  };
  let cur = sm.inputs[0];
  for (let depth = 0; depth <= maxDepth; depth++) {
    const p = producer.get(cur);
    if (!p || p.domain || p.outputs.length !== 1 || outputs.has(cur)) return undefined;
    if (p.opType === 'MatMul') {
      const [a, b] = p.inputs;
      if (!small(a) || !small(b)) return undefined;
      nodes.push(p);
      side.push(...[a, b].filter((u) => !consts.has(u)));
      const total = side.reduce((t, u) => t + (kept.has(u) ? 0 : (numel(em.shape(u)) ?? Infinity)), 0);
      return always || (size !== undefined && total <= size * sideFraction) ? { nodes, side } : undefined;
    }
    if (!scoreOps.has(p.opType)) return undefined;
    // The chain value is the input shaped like the scores (largest static size); the others must be small.
    const live = p.inputs.filter((u) => u && !consts.has(u));
    if (live.length === 0) return undefined;
    const next = live.reduce((a, b) => ((numel(em.shape(b)) ?? Infinity) > (numel(em.shape(a)) ?? Infinity) ? b : a));
    const others = live.filter((u) => u !== next);
    if (!others.every(small)) return undefined;
    nodes.push(p);
    side.push(...others);
    cur = next;
  }
  return undefined;
};
