/** Spatial resampling as diffusers' Downsample2D / Upsample2D export, and the NCHW ↔ sequence reshapes. */
import { f } from '../../onnx/builder.ts';
import type { LayerContext } from './context.ts';
import { conv2d } from './conv.ts';

/**
 * Downsample2D: a 3×3 Conv with stride 2. The UNet pads 1 on every side; the VAE encoder pads (0, 1, 0, 1) —
 * right and bottom only — with an explicit Pad node before an unpadded Conv, as torch exports its F.pad.
 *
 * @example
 * const d = downsample(ctx, 'down_blocks.0.downsamplers.0', h, 32, 'symmetric');
 */
export const downsample = (
  ctx: LayerContext,
  name: string,
  x: string,
  channels: number,
  padding: 'symmetric' | 'right-bottom',
): string => {
  if (padding === 'symmetric') return conv2d(ctx, `${name}.conv`, x, channels, channels, { stride: 2, pad: 1 });
  const padded = ctx.b.op(
    'Pad',
    [x, ctx.i64([0, 0, 0, 0, 0, 0, 1, 1]), ctx.f32(0)],
    { mode: 'constant' },
    { name: `${name}/Pad` },
  );
  return conv2d(ctx, `${name}.conv`, padded, channels, channels, { stride: 2, pad: 0 });
};

/**
 * Upsample2D: nearest-neighbour ×2 (Resize, asymmetric coordinates, floor — torch's F.interpolate(scale_factor=2))
 * followed by a 3×3 Conv.
 *
 * @example
 * const u = upsample(ctx, 'up_blocks.0.upsamplers.0', h, 64);
 */
export const upsample = (ctx: LayerContext, name: string, x: string, channels: number): string => {
  const scales = ctx.b.constF([1, 1, 2, 2], [4], 'resize_scales');
  const up = ctx.b.op(
    'Resize',
    [x, '', scales],
    {
      coordinate_transformation_mode: 'asymmetric',
      cubic_coeff_a: f(-0.75),
      mode: 'nearest',
      nearest_mode: 'floor',
    },
    { name: `${name}/Resize` },
  );
  return conv2d(ctx, `${name}.conv`, up, channels, channels);
};

/**
 * [B, C, H, W] → [B, H·W, C], the token layout attention works in.
 *
 * @example
 * const seq = toSequence(ctx, 'attn', h, 64);
 */
export const toSequence = (ctx: LayerContext, name: string, x: string, channels: number): string => {
  const flat = ctx.b.op('Reshape', [x, ctx.i64([0, channels, -1])], {}, { name: `${name}/Reshape_seq` });
  return ctx.b.op('Transpose', [flat], { perm: [0, 2, 1] }, { name: `${name}/Transpose_seq` });
};

/**
 * [B, H·W, C] → [B, C, H, W], taking H and W from `like` (an NCHW tensor of the target shape).
 *
 * @example
 * const h = fromSequence(ctx, 'attn', seq, residual);
 */
export const fromSequence = (ctx: LayerContext, name: string, seq: string, like: string): string => {
  const t = ctx.b.op('Transpose', [seq], { perm: [0, 2, 1] }, { name: `${name}/Transpose_img` });
  return ctx.b.op(
    'Reshape',
    [t, ctx.b.op('Shape', [like], {}, { name: `${name}/Shape_img` })],
    {},
    { name: `${name}/Reshape_img` },
  );
};
