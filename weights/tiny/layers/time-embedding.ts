/** The UNet's timestep embedding: diffusers' Timesteps (sinusoidal, computed in the graph) and TimestepEmbedding. */
import type { LayerContext } from './context.ts';
import { gemm } from './linear.ts';
import { silu } from './activations.ts';

/**
 * Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0) → linear_1 → SiLU → linear_2.
 * freq_k = exp(−ln(10000)·k / (width/2)) is computed in the graph (Range, Mul, Exp) so no engine's Math.exp ever
 * touches the model bytes; emb = [cos(t·freq), sin(t·freq)]. `timestep` is float32 [steps]; the result is
 * [steps, 4·width], and steps may be 1 (it broadcasts over the batch downstream).
 *
 * @example
 * const temb = timeEmbedding(ctx, 'timestep', 32); // [steps, 128]
 */
export const timeEmbedding = (ctx: LayerContext, timestep: string, width: number): string => {
  const { b } = ctx;
  const half = width / 2;
  const k = b.op('Range', [ctx.f32(0), ctx.f32(half), ctx.f32(1)], {}, { name: 'time_proj/Range' });
  const exponent = b.op('Mul', [k, ctx.f32((-4 * Math.LN10) / half)], {}, { name: 'time_proj/Mul' });
  const freqs = b.op('Exp', [exponent], {}, { name: 'time_proj/Exp' });
  const args = b.op(
    'Mul',
    [b.op('Unsqueeze', [timestep, ctx.i64([1])], {}, { name: 'time_proj/Unsqueeze' }), freqs],
    {},
    { name: 'time_proj/Mul_1' },
  );
  const emb = b.op(
    'Concat',
    [b.op('Cos', [args], {}, { name: 'time_proj/Cos' }), b.op('Sin', [args], {}, { name: 'time_proj/Sin' })],
    { axis: 1 },
    { name: 'time_proj/Concat' },
  );
  const h = silu(ctx, 'time_embedding.act', gemm(ctx, 'time_embedding.linear_1', emb, width, 4 * width));
  return gemm(ctx, 'time_embedding.linear_2', h, 4 * width, 4 * width);
};
