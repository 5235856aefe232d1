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

/**
 * Σ dO·O over the last axis (keepdims), shaped like Σ dP·P, when the Softmax of `c` (over its last axis) feeds
 * exactly one MatMul as its left operand whose output has P's leading dims; undefined otherwise (the caller forms
 * the row sum from dP and P).
 */
export const attentionRowSum = (c: VjpContext, axes: readonly number[]): string | undefined => {
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
  return c.castLike(c.reduceSum(c.f32(c.emit('Mul', [dO, o])), [r - 1], true), p);
};
