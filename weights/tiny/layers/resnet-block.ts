/** diffusers' ResnetBlock2D (the UNet's, with a time embedding; the VAE's, without). */
import type { LayerContext } from './context.ts';
import { conv2d } from './conv.ts';
import { gemm } from './linear.ts';
import { groupNorm } from './norm.ts';
import { silu } from './activations.ts';

export interface ResnetBlockOptions {
  inChannels: number;
  outChannels: number;
  groups: number;
  eps: number;
  /**
   * The time embedding after its SiLU ([steps, channels]; steps is the batch or 1). ResnetBlock2D applies SiLU to
   * temb itself; every block of a UNet does the same SiLU on the same tensor, so the caller does it once.
   */
  temb?: { value: string; channels: number };
}

/**
 * norm1 → SiLU → conv1 (+ time_emb_proj(temb)[:, :, None, None]) → norm2 → SiLU → conv2, plus the input —
 * through a 1×1 conv_shortcut when the channel count changes.
 *
 * @example
 * const h = resnetBlock(ctx, 'down_blocks.0.resnets.0', x, { inChannels: 32, outChannels: 64, groups: 8, eps: 1e-5,
 * temb });
 */
export const resnetBlock = (ctx: LayerContext, name: string, x: string, o: ResnetBlockOptions): string => {
  const { b } = ctx;
  let h = groupNorm(ctx, `${name}.norm1`, x, o.inChannels, o.groups, o.eps);
  h = silu(ctx, `${name}.nonlinearity`, h);
  h = conv2d(ctx, `${name}.conv1`, h, o.inChannels, o.outChannels);
  if (o.temb) {
    const t = gemm(ctx, `${name}.time_emb_proj`, o.temb.value, o.temb.channels, o.outChannels);
    const t4 = b.op('Unsqueeze', [t, ctx.i64([2, 3])], {}, { name: `${name}/Unsqueeze_temb` });
    h = b.op('Add', [h, t4], {}, { name: `${name}/Add_temb` });
  }
  h = groupNorm(ctx, `${name}.norm2`, h, o.outChannels, o.groups, o.eps);
  h = silu(ctx, `${name}.nonlinearity_1`, h);
  h = conv2d(ctx, `${name}.conv2`, h, o.outChannels, o.outChannels);
  const shortcut =
    o.inChannels === o.outChannels
      ? x
      : conv2d(ctx, `${name}.conv_shortcut`, x, o.inChannels, o.outChannels, { kernel: 1 });
  return b.op('Add', [shortcut, h], {}, { name: `${name}/Add` });
};
