/**
 * Where each pixel is, for networks that must draw things at a place: CoordConv (Liu et al. 2018). Convolutions
 * and attention are translation-equivariant, so a small UNet only learns position from the zero padding at the
 * borders — a signal a two-level 16×16 UNet barely has (the shipped tiny drew every object in the centre,
 * whatever position the prompt named). SD's UNets get it from four levels of depth down to 8×8; ours cannot
 * afford that on two CPU cores.
 */
import { kaiming } from '../params.ts';
import type { LayerContext } from './context.ts';

/**
 * A constant [1, 2, H, W] grid, channel 0 = x and channel 1 = y at pixel centres, each in (−1, 1): x = (2i + 1)/W − 1.
 * Computed in the graph from `x`'s shape (Shape, Range, Expand), so the model keeps dynamic height and width and
 * nothing about the grid is stored.
 *
 * @example
 * const grid = pixelGrid(ctx, 'pos_in', sample); // [1, 2, height, width]
 */
export const pixelGrid = (ctx: LayerContext, name: string, x: string): string => {
  const { b } = ctx;
  const shape = b.op('Shape', [x], {}, { name: `${name}/Shape` });
  const hw = b.op('Slice', [shape, ctx.i64([2]), ctx.i64([4]), ctx.i64([0])], {}, { name: `${name}/Slice` });
  const axis = (dim: number, label: string) => {
    const n = b.op(
      'Cast',
      [b.op('Gather', [shape, b.constI64(dim, [], 'const_i64')], { axis: 0 }, { name: `${name}/Gather_${label}` })],
      { to: 1 },
      { name: `${name}/Cast_${label}` },
    );
    const i = b.op('Range', [ctx.f32(0), n, ctx.f32(1)], {}, { name: `${name}/Range_${label}` });
    // (2i + 1)/n − 1: pixel centres, symmetric about 0 so left and right are mirror images.
    const twice = b.op(
      'Add',
      [b.op('Mul', [i, ctx.f32(2)], {}, { name: `${name}/Mul_${label}` }), ctx.f32(1)],
      {},
      { name: `${name}/Add_${label}` },
    );
    return b.op(
      'Sub',
      [b.op('Div', [twice, n], {}, { name: `${name}/Div_${label}` }), ctx.f32(1)],
      {},
      { name: `${name}/Sub_${label}` },
    );
  };
  const full = b.op('Concat', [ctx.i64([1, 1]), hw], { axis: 0 }, { name: `${name}/Concat_shape` });
  const spread = (v: string, to: number[], label: string) =>
    b.op(
      'Expand',
      [b.op('Reshape', [v, ctx.i64(to)], {}, { name: `${name}/Reshape_${label}` }), full],
      {},
      { name: `${name}/Expand_${label}` },
    );
  return b.op(
    'Concat',
    [spread(axis(3, 'x'), [1, 1, 1, -1], 'x'), spread(axis(2, 'y'), [1, 1, -1, 1], 'y')],
    { axis: 1 },
    { name: `${name}/Concat` },
  );
};

/**
 * CoordConv as an addition: `h + W·grid` with W a learned [out, 2, 1, 1] kernel (no bias: `h` has one). The same as
 * concatenating the grid to the input of a 1×1 convolution, without copying the grid for every batch item — the
 * [1, out, H, W] term broadcasts.
 *
 * @example
 * h = addCoordinates(ctx, 'pos_in', sample, conv2d(ctx, 'conv_in', sample, 4, 32), 32);
 */
export const addCoordinates = (ctx: LayerContext, name: string, x: string, h: string, outC: number): string => {
  const w = ctx.p.param(`${name}.weight`, [outC, 2, 1, 1], kaiming(2));
  const pos = ctx.b.op(
    'Conv',
    [pixelGrid(ctx, name, x), w],
    {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [1, 1],
      pads: [0, 0, 0, 0],
      strides: [1, 1],
    },
    { name: `${name}/Conv` },
  );
  return ctx.b.op('Add', [h, pos], {}, { name: `${name}/Add` });
};
