/**
 * diffusers' Transformer2DModel with BasicTransformerBlocks, as SD1.x/2.x use them: GroupNorm, proj_in,
 * [LayerNorm → self-attention, LayerNorm → cross-attention over the text, LayerNorm → GEGLU feed-forward] with
 * residuals, proj_out, and the block's input added back.
 */
import type { LayerContext } from './context.ts';
import { conv2d } from './conv.ts';
import { linear } from './linear.ts';
import { groupNorm, layerNorm } from './norm.ts';
import { gelu } from './activations.ts';
import { attentionModule } from './attention.ts';
import { fromSequence, toSequence } from './sampling.ts';

/**
 * GEGLU feed-forward (`ff.net.0.proj` → Split into hidden and gate → hidden · GELU(gate) → `ff.net.2`), inner width
 * 4·dim, as FeedForward(activation_fn="geglu").
 *
 * @example
 * const y = gegluFeedForward(ctx, 'transformer_blocks.0.ff', x, 64);
 */
export const gegluFeedForward = (ctx: LayerContext, name: string, x: string, dim: number): string => {
  const inner = 4 * dim;
  const proj = linear(ctx, `${name}.net.0.proj`, x, dim, 2 * inner);
  const [hidden, gate] = ctx.b.opN(
    'Split',
    [proj, ctx.i64([inner, inner])],
    2,
    { axis: -1 },
    { name: `${name}.net.0/Split` },
  );
  const gated = ctx.b.op('Mul', [hidden, gelu(ctx, `${name}.net.0.gelu`, gate)], {}, { name: `${name}.net.0/Mul` });
  return linear(ctx, `${name}.net.2`, gated, inner, dim);
};

export interface TransformerOptions {
  channels: number;
  heads: number;
  /** Width of encoder_hidden_states (768 for SD1.x). */
  crossAttentionDim: number;
  groups: number;
  /** SD2 projects with Linear; SD1 with 1×1 Conv. */
  useLinearProjection: boolean;
  layers?: number;
}

const basicTransformerBlock = (
  ctx: LayerContext,
  name: string,
  x: string,
  text: string,
  o: TransformerOptions,
): string => {
  const { b } = ctx;
  const attn = { dim: o.channels, heads: o.heads, qkvBias: false };
  let h = b.op(
    'Add',
    [attentionModule(ctx, `${name}.attn1`, layerNorm(ctx, `${name}.norm1`, x, o.channels), undefined, attn), x],
    {},
    { name: `${name}/Add` },
  );
  const cross = { ...attn, contextDim: o.crossAttentionDim };
  h = b.op(
    'Add',
    [attentionModule(ctx, `${name}.attn2`, layerNorm(ctx, `${name}.norm2`, h, o.channels), text, cross), h],
    {},
    { name: `${name}/Add_1` },
  );
  return b.op(
    'Add',
    [gegluFeedForward(ctx, `${name}.ff`, layerNorm(ctx, `${name}.norm3`, h, o.channels), o.channels), h],
    {},
    { name: `${name}/Add_2` },
  );
};

/**
 * Transformer2DModel over an NCHW feature map, attending across to `text` ([B, 77, crossAttentionDim]).
 *
 * @example
 * const h = transformer2d(ctx, 'down_blocks.0.attentions.0', x, ehs, { channels: 32, heads: 2, crossAttentionDim: 64,
 * groups: 8, useLinearProjection: false });
 */
export const transformer2d = (
  ctx: LayerContext,
  name: string,
  x: string,
  text: string,
  o: TransformerOptions,
): string => {
  const c = o.channels;
  // Transformer2DModel's GroupNorm uses eps 1e-6, unlike the resnets' 1e-5.
  const normed = groupNorm(ctx, `${name}.norm`, x, c, o.groups, 1e-6);
  let seq = o.useLinearProjection
    ? linear(ctx, `${name}.proj_in`, toSequence(ctx, name, normed, c), c, c)
    : toSequence(ctx, name, conv2d(ctx, `${name}.proj_in`, normed, c, c, { kernel: 1 }), c);
  for (let i = 0; i < (o.layers ?? 1); i++)
    seq = basicTransformerBlock(ctx, `${name}.transformer_blocks.${i}`, seq, text, o);
  const out = o.useLinearProjection
    ? fromSequence(ctx, name, linear(ctx, `${name}.proj_out`, seq, c, c), x)
    : conv2d(ctx, `${name}.proj_out`, fromSequence(ctx, name, seq, x), c, c, { kernel: 1 });
  return ctx.b.op('Add', [out, x], {}, { name: `${name}/Add` });
};
