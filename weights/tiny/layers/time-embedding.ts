/**
 * The UNet's timestep embedding: diffusers' Timesteps (sinusoidal, computed in the graph) and TimestepEmbedding,
 * and SDXL's added text/time embedding built from the same two parts.
 */
import type { LayerContext } from './context.ts';
import { gemm } from './linear.ts';
import { silu } from './activations.ts';

/**
 * Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0) over a 1-D input: freq_k = exp(−ln(10000)·k /
 * (width/2)), computed in the graph (Range, Mul, Exp) so no engine's Math.exp ever touches the model bytes;
 * emb = [cos(t·freq), sin(t·freq)], [n, width]. `name` prefixes the nodes ('time_proj', SDXL's 'add_time_proj').
 *
 * @example
 * const s = sinusoidalEmbedding(ctx, 'time_proj', 'timestep', 32); // [steps, 32]
 */
export const sinusoidalEmbedding = (ctx: LayerContext, name: string, t: string, width: number): string => {
  const { b } = ctx;
  const half = width / 2;
  const k = b.op('Range', [ctx.f32(0), ctx.f32(half), ctx.f32(1)], {}, { name: `${name}/Range` });
  const exponent = b.op('Mul', [k, ctx.f32((-4 * Math.LN10) / half)], {}, { name: `${name}/Mul` });
  const freqs = b.op('Exp', [exponent], {}, { name: `${name}/Exp` });
  const args = b.op(
    'Mul',
    [b.op('Unsqueeze', [t, ctx.i64([1])], {}, { name: `${name}/Unsqueeze` }), freqs],
    {},
    { name: `${name}/Mul_1` },
  );
  return b.op(
    'Concat',
    [b.op('Cos', [args], {}, { name: `${name}/Cos` }), b.op('Sin', [args], {}, { name: `${name}/Sin` })],
    { axis: 1 },
    { name: `${name}/Concat` },
  );
};

/** TimestepEmbedding(in, out): linear_1 → SiLU → linear_2, each Linear a Gemm as torch exports it. */
const timestepMlp = (ctx: LayerContext, name: string, x: string, inWidth: number, outWidth: number): string => {
  const h = silu(ctx, `${name}.act`, gemm(ctx, `${name}.linear_1`, x, inWidth, outWidth));
  return gemm(ctx, `${name}.linear_2`, h, outWidth, outWidth);
};

/**
 * Timesteps(width) → TimestepEmbedding(width, 4·width). `timestep` is float32 [steps]; the result is
 * [steps, 4·width], and steps may be 1 (it broadcasts over the batch downstream).
 *
 * @example
 * const temb = timeEmbedding(ctx, 'timestep', 32); // [steps, 128]
 */
export const timeEmbedding = (ctx: LayerContext, timestep: string, width: number): string =>
  timestepMlp(ctx, 'time_embedding', sinusoidalEmbedding(ctx, 'time_proj', timestep, width), width, 4 * width);

/** SDXL's micro-conditioning: six numbers per sample (original size h, w; crop top, left; target size h, w). */
export const TIME_IDS = 6;

/**
 * SDXL's `addition_embed_type: "text_time"` (diffusers' UNet2DConditionModel): each of the six `time_ids` through
 * `add_time_proj` = Timesteps(timeWidth, flip_sin_to_cos, shift 0), flattened to [B, 6·timeWidth], concatenated
 * after the pooled `text_embeds` [B, textWidth], then `add_embedding` = TimestepEmbedding(textWidth + 6·timeWidth,
 * outWidth). The UNet adds it to the timestep embedding.
 *
 * @example
 * const aug = addedTimeTextEmbedding(ctx, 'text_embeds', 'time_ids', { textWidth: 48, timeWidth: 8, outWidth: 128 });
 */
export const addedTimeTextEmbedding = (
  ctx: LayerContext,
  textEmbeds: string,
  timeIds: string,
  o: { textWidth: number; timeWidth: number; outWidth: number },
): string => {
  const { b } = ctx;
  const flat = b.op('Reshape', [timeIds, ctx.i64([-1])], {}, { name: 'add_time_proj/Flatten' });
  const each = sinusoidalEmbedding(ctx, 'add_time_proj', flat, o.timeWidth);
  const perSample = b.op(
    'Reshape',
    [each, ctx.i64([-1, TIME_IDS * o.timeWidth])],
    {},
    { name: 'add_time_proj/Reshape' },
  );
  const cat = b.op('Concat', [textEmbeds, perSample], { axis: 1 }, { name: 'add_embedding/Concat' });
  return timestepMlp(ctx, 'add_embedding', cat, o.textWidth + TIME_IDS * o.timeWidth, o.outWidth);
};
