/**
 * Col2Im: Y[n, c, p] = Σ X[n, c·∏b + o, l] over the kernel offsets o and block positions l that land on pixel p,
 * p_d = l_d·stride_d − pad_d + o_d·dilation_d (entries landing in the padding are dropped). It is linear and every
 * input entry lands on at most one pixel, so its adjoint reads: dX[n, c·∏b + o, l] = dY[n, c, p(o, l)], or 0 where
 * (o, l) lands in the padding — one Gather of dY (with a zero appended) at a table of pixel indices computed here.
 * The table needs image_shape and block_shape as constants (refused otherwise: not written).
 */
import type { Rule } from '../rule-context.ts';

export const col2im: Rule = (c) => {
  const [img, block] = [c.values(c.x(1)), c.values(c.x(2))];
  const xs = c.shape(c.x(0));
  if (!img || !block || typeof xs?.[1] !== 'number')
    c.fail('with image_shape, block_shape or the column count known only at run time (not written)');
  const k = img!.length;
  const ints = (name: string, fill: number, n: number) => {
    const v = c.attr<number[]>(name, []);
    return v.length ? v : Array(n).fill(fill);
  };
  const [dil, pads, strides] = [ints('dilations', 1, k), ints('pads', 0, 2 * k), ints('strides', 1, k)];
  const blocks = block!.map(
    (b, d) => Math.floor((img![d] + pads[d] + pads[d + k] - (dil[d] * (b - 1) + 1)) / strides[d]) + 1,
  );
  const size = (v: number[]) => v.reduce((a, b) => a * b, 1);
  const HW = size(img!);
  const digits = (j: number, dims: number[]) => dims.map((_, d) => Math.floor(j / size(dims.slice(d + 1))) % dims[d]);
  const table: number[] = [];
  for (let o = 0; o < size(block!); o++)
    for (let l = 0; l < size(blocks); l++) {
      const [od, ld] = [digits(o, block!), digits(l, blocks)];
      const p = ld.map((x, d) => x * strides[d] - pads[d] + od[d] * dil[d]);
      const inside = p.every((x, d) => x >= 0 && x < img![d]);
      table.push(inside ? p.reduce((a, x, d) => a * img![d] + x, 0) : HW); // HW: the appended zero
    }
  const C = (xs![1] as number) / size(block!);
  const flat = c.emit('Reshape', [c.gy(0)!, c.ints([0, C, HW])]);
  const zero = c.emit('Slice', [c.zerosLike(flat), c.ints([0]), c.ints([1]), c.ints([2])]);
  const padded = c.emit('Concat', [flat, zero], { axis: 2 });
  const taken = c.emit('Gather', [padded, c.ints(table)], { axis: 2 }); // [N, C, ∏b·L]
  return [c.emit('Reshape', [taken, c.ints([0, C * size(block!), size(blocks)])]), undefined, undefined];
};
