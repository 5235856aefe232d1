/** Pooling: GlobalAveragePool GlobalMaxPool AveragePool MaxPool. */
import { tensor } from '../../../common/tensor.ts';
import { DataType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { geometry } from './conv.ts';

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/** |Y|/|X| in X's type: 1/n for n elements pooled into each output. */
const inverseCount = (c: VjpContext) =>
  c.emit('Div', [
    c.emit('Cast', [c.emit('Size', [c.y(0)])], { to: c.elem(c.x(0)) }),
    c.emit('Cast', [c.emit('Size', [c.x(0)])], { to: c.elem(c.x(0)) }),
  ]);

// Y = mean of X over space (kept as 1s).  dX = dY/n broadcast back
export const globalAveragePool: Rule = (c) => [c.expandTo(c.emit('Mul', [c.gy(0)!, inverseCount(c)]), c.x(0))];

// Y = max of X over space.  dX = dY where X = Y, shared equally among ties
export const globalMaxPool: Rule = (c) => {
  const [x, y] = [c.x(0), c.y(0)];
  const hit = c.emit('Cast', [c.equal(x, c.expandTo(y, x))], { to: c.elem(x) });
  const ties = c.reduceSum(hit, range(2, c.rank(x)), true);
  return [c.emit('Mul', [hit, c.expandTo(c.emit('Div', [c.gy(0)!, ties]), x)])];
};

// MaxPool: dY goes to the element each window picked. The same MaxPool run with its Indices output gives their flat
// positions in X; dX = Reshape(ScatterElements(zeros(|X|), indices, dY, reduction = add), shape(X)) (opset 16).
// Column-major storage_order (2-D): index = base + w·H + h, turned back into base + h·W + w.
export const maxPool: Rule = (c) => {
  c.requireOpset(16);
  const [x, g] = [c.x(0), c.gy(0)!];
  let indices = c.y(1) || c.emitCopyN([x], 2)[1];
  if (c.attr('storage_order', 0) === 1) {
    const hw = c.shape(x)?.slice(2);
    if (hw?.length !== 2 || !hw.every((d) => typeof d === 'number'))
      c.fail('with column-major storage_order and other than two static spatial sizes');
    const [H, W] = hw as number[];
    const k = (v: number) => c.ints([v]);
    const within = c.emit('Mod', [indices, k(H * W)]);
    const [w, h] = [c.emit('Div', [within, k(H)]), c.emit('Mod', [within, k(H)])];
    const rowMajor = c.emit('Add', [c.emit('Mul', [h, k(W)]), w]);
    indices = c.emit('Add', [c.emit('Sub', [indices, within]), rowMajor]);
  }
  const flat = (v: string) => c.emit('Reshape', [v, c.ints([-1])]);
  const zeros = c.zerosLike(flat(x));
  const s = c.emit('ScatterElements', [zeros, flat(indices), flat(g)], { axis: 0, reduction: 'add' });
  return [c.emit('Reshape', [s, c.shapeOf(x)])];
};

// Y = (Σ_window X)/n_window, linear in X.  dX = ConvTranspose(dY/n, ones[C,1,k…], group C, same strides/pads/
// dilations): every input gets the cotangent of each window it is in, over that window's count. n is ∏k with
// count_include_pad, else the real (unpadded) elements: Conv(ones, ones[1,1,k…]) with the same geometry. With
// ceil_mode the last windows reach past the end padding: that overhang is added to the end pads (it holds no
// elements, so it only matters for the real-element count).
export const averagePool: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(0)!];
  const xs = c.shape(x);
  if (!xs?.slice(1).every((d) => typeof d === 'number')) c.fail('with dynamic channel or spatial sizes');
  const { sp, k, s, d, p: p0 } = geometry(c, '');
  const p = [...p0]; // a copy: the ceil_mode overhang must not touch the forward node's pads
  const [ch, ...ins] = xs!.slice(1) as number[];
  if (c.attr('ceil_mode', 0) === 1) {
    const known = c.shape(c.y(0))?.slice(2);
    const outs = known?.every((v) => typeof v === 'number')
      ? (known as number[])
      : ins.map((i, j) => Math.ceil((i + p[j] + p[j + sp] - d[j] * (k[j] - 1) - 1) / s[j]) + 1);
    if (c.attr('count_include_pad', 0) === 1)
      c.fail('with ceil_mode counting the padding (which cells count is unclear)');
    ins.forEach((i, j) => {
      p[j + sp] += Math.max(0, (outs[j] - 1) * s[j] + d[j] * (k[j] - 1) + 1 - (i + p[j] + p[j + sp]));
    });
  }
  const e = c.elem(x);
  const ones = (dims: number[]) =>
    c.emit('ConstantOfShape', [c.ints(dims)], {
      value:
        e === DataType.DOUBLE ? tensor('float64', [1], Float64Array.of(1)) : tensor('float32', [1], Float32Array.of(1)),
    });
  const geo = { strides: s, pads: p, dilations: d, kernel_shape: k };
  const count =
    c.attr('count_include_pad', 0) === 1
      ? c.scalar(
          k.reduce((a, b) => a * b, 1),
          g,
        )
      : c.emit('Conv', [ones([1, 1, ...ins]), ones([1, 1, ...k])], geo);
  const outPad = ins.map((i, j) => (i + p[j] + p[j + sp] - d[j] * (k[j] - 1) - 1) % s[j]);
  return [
    c.emit('ConvTranspose', [c.emit('Div', [g, count]), ones([ch, 1, ...k])], {
      ...geo,
      group: ch,
      output_padding: outPad,
    }),
  ];
};
