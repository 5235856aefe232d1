/** Activations spelled with the primitive ops torch.onnx emits for them (no fused or contrib ops). */
import type { LayerContext } from './context.ts';

/**
 * SiLU as `x · Sigmoid(x)` (torch exports F.silu this way before opset-level fusion).
 *
 * @example
 * const h = silu(ctx, 'nonlinearity', x);
 */
export const silu = (ctx: LayerContext, name: string, x: string): string =>
  ctx.b.op('Mul', [x, ctx.b.op('Sigmoid', [x], {}, { name: `${name}/Sigmoid` })], {}, { name: `${name}/Mul` });

/**
 * Exact GELU as torch exports it: `x · (erf(x / √2) + 1) · 0.5` — Div, Erf, Add, Mul, Mul.
 *
 * @example
 * const g = gelu(ctx, 'ff.net.0', gate);
 */
export const gelu = (ctx: LayerContext, name: string, x: string): string => {
  const { b } = ctx;
  const e = b.op(
    'Erf',
    [b.op('Div', [x, ctx.f32(Math.SQRT2)], {}, { name: `${name}/Div` })],
    {},
    { name: `${name}/Erf` },
  );
  const onePlus = b.op('Add', [e, ctx.f32(1)], {}, { name: `${name}/Add` });
  return b.op(
    'Mul',
    [b.op('Mul', [x, onePlus], {}, { name: `${name}/Mul` }), ctx.f32(0.5)],
    {},
    { name: `${name}/Mul_1` },
  );
};

/**
 * CLIP's quick_gelu, `x · Sigmoid(1.702 x)`.
 *
 * @example
 * const h = quickGelu(ctx, 'mlp.activation_fn', fc1);
 */
export const quickGelu = (ctx: LayerContext, name: string, x: string): string => {
  const { b } = ctx;
  const s = b.op(
    'Sigmoid',
    [b.op('Mul', [x, ctx.f32(1.702)], {}, { name: `${name}/Mul` })],
    {},
    { name: `${name}/Sigmoid` },
  );
  return b.op('Mul', [x, s], {}, { name: `${name}/Mul_1` });
};
