/**
 * nn.Linear the two ways torch.onnx writes it: MatMul + Add on 3-D activations (the weight stored transposed,
 * [in, out]) and Gemm with transB on 2-D ones (the weight as PyTorch keeps it, [out, in]).
 */
import { kaiming } from '../params.ts';
import type { LayerContext } from './context.ts';

export interface LinearOptions {
  bias?: boolean;
}

/**
 * `y = x·Wᵀ + b` over the last axis of an activation of any rank ≥ 2, as MatMul (+ Add).
 *
 * @example
 * const q = linear(ctx, 'attn1.to_q', x, 64, 64, { bias: false });
 */
export const linear = (
  ctx: LayerContext,
  name: string,
  x: string,
  inF: number,
  outF: number,
  o: LinearOptions = {},
): string => {
  const w = ctx.p.param(`${name}.weight`, [inF, outF], kaiming(inF));
  const y = ctx.b.op('MatMul', [x, w], {}, { name: `${name}/MatMul` });
  if (o.bias === false) return y;
  const bias = ctx.p.param(`${name}.bias`, [outF], kaiming(inF));
  return ctx.b.op('Add', [y, bias], {}, { name: `${name}/Add` });
};

/**
 * A Linear on a 2-D activation [n, in] as one Gemm (alpha 1, beta 1, transB 1), as torch exports the UNet's
 * time-embedding MLP.
 *
 * @example
 * const h = gemm(ctx, 'time_embedding.linear_1', t, 32, 128);
 */
export const gemm = (ctx: LayerContext, name: string, x: string, inF: number, outF: number): string => {
  const w = ctx.p.param(`${name}.weight`, [outF, inF], kaiming(inF));
  const bias = ctx.p.param(`${name}.bias`, [outF], kaiming(inF));
  return ctx.b.op('Gemm', [x, w, bias], { transB: 1 }, { name: `${name}/Gemm` });
};
