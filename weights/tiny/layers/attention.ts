/**
 * Scaled dot-product attention as MatMul/Softmax/MatMul, the way torch.onnx writes SD's and CLIP's attention,
 * plus the projection modules around it (diffusers' `Attention`, CLIP's `CLIPAttention`).
 */
import type { LayerContext } from './context.ts';
import { linear } from './linear.ts';

/**
 * softmax(q·kᵀ/√d + mask)·v over `heads` heads. q is [B, Nq, H·d], k and v are [B, Nk, H·d]; the result is
 * [B, Nq, H·d]. Heads are split with Reshape [0, −1, H, d] (0 copies the batch) so batch and length stay dynamic.
 * `mask`, when given, is added to the [B, H, Nq, Nk] scores (0 where allowed, a huge negative where not).
 *
 * @example
 * const o = scaledDotProductAttention(ctx, 'attn1', q, k, v, 8, 40);
 */
export const scaledDotProductAttention = (
  ctx: LayerContext,
  name: string,
  q: string,
  k: string,
  v: string,
  heads: number,
  headDim: number,
  mask?: string,
): string => {
  const { b } = ctx;
  const split = ctx.i64([0, -1, heads, headDim]);
  const heads4 = (x: string, perm: number[], tag: string) =>
    b.op(
      'Transpose',
      [b.op('Reshape', [x, split], {}, { name: `${name}/Reshape_${tag}` })],
      { perm },
      { name: `${name}/Transpose_${tag}` },
    );
  const qh = heads4(q, [0, 2, 1, 3], 'q');
  const kt = heads4(k, [0, 2, 3, 1], 'k'); // kᵀ per head: [B, H, d, Nk]
  const vh = heads4(v, [0, 2, 1, 3], 'v');
  let scores = b.op('MatMul', [qh, kt], {}, { name: `${name}/MatMul` });
  scores = b.op('Mul', [scores, ctx.f32(1 / Math.sqrt(headDim))], {}, { name: `${name}/Mul` });
  if (mask) scores = b.op('Add', [scores, mask], {}, { name: `${name}/Add_mask` });
  const probs = b.op('Softmax', [scores], { axis: -1 }, { name: `${name}/Softmax` });
  const o = b.op('MatMul', [probs, vh], {}, { name: `${name}/MatMul_1` });
  const merged = b.op('Transpose', [o], { perm: [0, 2, 1, 3] }, { name: `${name}/Transpose_o` });
  return b.op('Reshape', [merged, ctx.i64([0, -1, heads * headDim])], {}, { name: `${name}/Reshape_o` });
};

export interface AttentionModule {
  /** Query width (the block's channels). */
  dim: number;
  /** Width of the keys/values source: `dim` for self-attention, the text width for cross-attention. */
  contextDim?: number;
  heads: number;
  /** Whether to_q/to_k/to_v carry biases: false in SD's UNet, true in CLIP and the VAE. */
  qkvBias: boolean;
  /** Projection module names; diffusers' by default (`to_q`, `to_k`, `to_v`, `to_out.0`). */
  names?: { q: string; k: string; v: string; out: string };
  mask?: string;
}

const diffusersNames = { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0' };

/**
 * A full attention module: project q from `x` and k, v from `context` (or `x`), attend, project out.
 *
 * @example
 * const h = attentionModule(ctx, 'transformer_blocks.0.attn2', x, text, { dim: 64, contextDim: 64, heads: 2, qkvBias:
 * false });
 */
export const attentionModule = (
  ctx: LayerContext,
  name: string,
  x: string,
  context: string | undefined,
  m: AttentionModule,
): string => {
  const n = m.names ?? diffusersNames;
  const src = context ?? x;
  const srcDim = context ? (m.contextDim ?? m.dim) : m.dim;
  const q = linear(ctx, `${name}.${n.q}`, x, m.dim, m.dim, { bias: m.qkvBias });
  const k = linear(ctx, `${name}.${n.k}`, src, srcDim, m.dim, { bias: m.qkvBias });
  const v = linear(ctx, `${name}.${n.v}`, src, srcDim, m.dim, { bias: m.qkvBias });
  const o = scaledDotProductAttention(ctx, name, q, k, v, m.heads, m.dim / m.heads, m.mask);
  return linear(ctx, `${name}.${n.out}`, o, m.dim, m.dim);
};
