/** nn.Conv2d as one Conv node, weight [out, in, k, k] and bias [out], PyTorch's default initialisation. */
import { kaiming } from '../params.ts';
import type { LayerContext } from './context.ts';

export interface ConvOptions {
  /** Square kernel size; 3 unless told. */
  kernel?: number;
  stride?: number;
  /** Symmetric padding; defaults to kernel ÷ 2 ("same" for odd kernels at stride 1). */
  pad?: number;
}

/**
 * A 2-D convolution over NCHW activations.
 *
 * @example
 * const h = conv2d(ctx, 'conv_in', sample, 4, 32);                 // 3×3, pad 1
 * const d = conv2d(ctx, 'downsamplers.0.conv', h, 32, 32, { stride: 2 });
 */
export const conv2d = (
  ctx: LayerContext,
  name: string,
  x: string,
  inC: number,
  outC: number,
  o: ConvOptions = {},
): string => {
  const k = o.kernel ?? 3;
  const pad = o.pad ?? Math.floor(k / 2);
  const stride = o.stride ?? 1;
  const fanIn = inC * k * k;
  const w = ctx.p.param(`${name}.weight`, [outC, inC, k, k], kaiming(fanIn));
  const bias = ctx.p.param(`${name}.bias`, [outC], kaiming(fanIn));
  return ctx.b.op(
    'Conv',
    [x, w, bias],
    {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [k, k],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    },
    { name: `${name}/Conv` },
  );
};
