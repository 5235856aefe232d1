/**
 * The Softmax VJP's row sum, taken from the attention output when the probabilities feed one P·V product.
 *
 * Softmax's VJP is dS = P·(dP − Σⱼ dP·P) over the last axis. When P's only reader is O = P·V (attention), its
 * cotangent is dP = dO·Vᵀ, and the row sum is
 *   Σⱼ P_ij·dP_ij = Σⱼ P_ij Σₖ dO_ik·V_jk = Σₖ dO_ik·(Σⱼ P_ij·V_jk) = Σₖ dO_ik·O_ik,
 * a sum over the head width d instead of the key count N (FlashAttention's D = rowsum(dO∘O)). At SD's 64×64
 * latents P is [B, 8, 4096, 4096] and O [B, 8, 4096, 40]: one multiply and one reduction over P (two passes of
 * 512 MiB per attention) become the same over O, 100× smaller.
 */
import type { VjpContext } from '../rule-context.ts';

const sameDims = (a: readonly unknown[], b: readonly unknown[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** The P·V product reading a Softmax's output P (over its last axis) as its only reader, with O's cotangent. */
const attentionProduct = (c: VjpContext, axes: readonly number[]) => {
  const p = c.y(0);
  const shape = c.shape(p);
  if (!shape || shape.length < 2 || axes.length !== 1) return undefined;
  const r = shape.length;
  if (axes[0] !== -1 && axes[0] !== r - 1) return undefined;
  const readers = c.consumers(p);
  if (readers.length !== 1) return undefined;
  const mm = readers[0];
  if (mm.opType !== 'MatMul' || (mm.domain && mm.domain !== 'ai.onnx')) return undefined;
  if (mm.inputs[0] !== p || mm.inputs[1] === p) return undefined;
  const o = mm.outputs[0];
  const os = c.shape(o);
  // O's leading dims must be P's: a V with more batch dims would make dP a sum over them.
  if (!os || !sameDims(os.slice(0, -1), shape.slice(0, -1))) return undefined;
  const dO = c.cotangentOf(o);
  if (!dO || c.cotangentOf(p) !== c.gy(0)) return undefined;
  return { p, o, dO, v: mm.inputs[1], r };
};

/**
 * dP − D as one product, where the Softmax VJP dS = P·(dP − D) would subtract the row sum D from the N×N dP:
 *   dP − D·1ᵀ = dO·Vᵀ − D·1ᵀ = [dO | −D]·[V | 1]ᵀ,
 * the head width d + 1 instead of d in the product, and no pass over N×N for the subtraction (at SD's 64×64
 * latents 64 MiB read and written per head). The product dP = dO·Vᵀ that P·V's VJP made is then unread and pruned.
 * Undefined (the caller forms the row sum from dP and P) unless P's only reader is that P·V, with O's leading dims P's.
 */
export const attentionShiftedCotangent = (c: VjpContext, axes: readonly number[]): string | undefined => {
  const a = attentionProduct(c, axes);
  if (!a) return undefined;
  // D = Σ dO·O over the head width (keepdims), shaped like Σ dP·P (see the file comment).
  const d = c.castLike(c.reduceSum(c.f32(c.emit('Mul', [a.dO, a.o])), [a.r - 1], true), a.dO);
  const last = c.rank(a.v) - 1;
  // A column of ones beside V: 1 expanded to the shape of V's first column (folded where shapes are static).
  const first = c.emit('Slice', [a.v, c.ints([0]), c.ints([1]), c.ints([last])]);
  const ones = c.emit('Expand', [c.scalar(1, a.v), c.shapeOf(first)]);
  const left = c.emit('Concat', [a.dO, c.emit('Neg', [d])], { axis: -1 });
  const right = c.emit('Concat', [a.v, ones], { axis: -1 });
  const perm = [...Array.from({ length: last - 1 }, (_, k) => k), last, last - 1];
  return c.castLike(c.emit('MatMul', [left, c.emit('Transpose', [right], { perm })]), a.p);
};
