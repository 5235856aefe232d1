/**
 * RoiAlign, with respect to X and to the rois, in avg and max mode, written out as gathers and products
 * (decomposition.ts) so the driver's rules give its gradient. For a roi (x₁, y₁, x₂, y₂) scaled by s and shifted by
 * o (½ for half_pixel, else 0): start = s·x₁ − o, size = s·x₂ − o − start (at least 1 without half_pixel); sample
 * points yⱼ = start_h + (p + (i + ½)/G)·size_h/P for bin p and sample i of G; likewise x. Each sample is bilinear:
 * outside [−1, H] it is 0; else y clamps to ≥ 0, y_low = ⌊y⌋ (y = y_low = y_high = H − 1 past the last row), and
 *   v = (1−ly)(1−lx)·X[y_low, x_low] + (1−ly)·lx·X[y_low, x_high] + ly(1−lx)·X[y_high, x_low] + ly·lx·X[y_high, x_high]
 * with ly = y − y_low. avg: the mean of v over the G×G samples of a bin; max: the largest weighted corner term over
 * them (onnxruntime's definition). So dX scatters dY times the weights to the four corners, and d(roi) follows the
 * weights' slopes ∂ly/∂y = 1 (0 where y was clamped) through the affine sample positions.
 * Refused: sampling_ratio 0, where G = ⌈size/P⌉ is a step function of the rois and the sample grid's size changes
 * with them (not written), and X without a static height and width.
 */
import { DataType } from '../../onnx/proto.ts';
import { Decomposition } from '../decomposition.ts';
import type { Rule } from '../rule-context.ts';

export const roiAlign: Rule = (c) => {
  const [X, rois, bi] = [c.x(0), c.x(1), c.x(2)];
  const xs = c.shape(X);
  if (xs?.length !== 4 || typeof xs[2] !== 'number' || typeof xs[3] !== 'number')
    c.fail('on X without a static height and width (not written)');
  const [H, W] = [xs![2], xs![3]] as number[];
  const G = c.attr('sampling_ratio', 0);
  if (G <= 0)
    c.fail(
      'with sampling_ratio 0: the samples per bin, ⌈roi size / output size⌉, are a step function of the rois, so the sample grid changes size with them (not written)',
    );
  const [PH, PW] = [c.attr('output_height', 1), c.attr('output_width', 1)];
  const s = c.attr('spatial_scale', 1);
  const half = c.opset >= 16 && c.attr('coordinate_transformation_mode', 'half_pixel') === 'half_pixel';
  const e = c.elem(X);
  const d = new Decomposition(Math.max(c.opset, 11), e); // GatherElements from 11
  d.input('X', e, xs);
  d.input('rois', c.elem(rois), c.shape(rois));
  d.input('batch_indices', DataType.INT64, c.shape(bi));
  const col = (j: number) => d.op('Slice', ['rois', d.ints([j]), d.ints([j + 1]), d.ints([1])]); // [R, 1]
  const [sw, sh, ew, eh] = [0, 1, 2, 3].map((j) => d.op('Sub', [d.op('Mul', [col(j), d.k(s)]), d.k(half ? 0.5 : 0)]));
  const size = (from: string, to: string) => {
    const v = d.op('Sub', [to, from]);
    return half ? v : d.op('Max', [v, d.k(1)]);
  };
  // Sample offsets in bins, ordered (bin, sample): p + (i + ½)/G.
  const offs = (P: number) => Array.from({ length: P * G }, (_, j) => Math.floor(j / G) + ((j % G) + 0.5) / G);
  const along = (start: string, extent: string, P: number, n: number) => {
    const v = d.op('Add', [start, d.op('Mul', [d.consts(offs(P), [1, P * G]), d.op('Div', [extent, d.k(P)])])]);
    const valid = d.asFloat(
      d.op('And', [d.op('Not', [d.op('Less', [v, d.k(-1)])]), d.op('Not', [d.op('Greater', [v, d.k(n)])])]),
    );
    const v0 = d.op('Relu', [v]);
    const fl = d.op('Floor', [v0]);
    const last = d.op('Not', [d.op('Less', [fl, d.k(n - 1)])]);
    const low = d.op('Where', [last, d.k(n - 1), fl]);
    const high = d.op('Where', [last, d.k(n - 1), d.op('Add', [fl, d.k(1)])]);
    const l = d.op('Sub', [d.op('Where', [last, d.k(n - 1), v0]), low]);
    const i64 = (t: string) => d.op('Cast', [t], { to: DataType.INT64 });
    return { valid, low: i64(low), high: i64(high), l, h: d.op('Sub', [d.k(1), l]) };
  };
  const y = along(sh, size(sh, eh), PH, H); // [R, PH·G]
  const x = along(sw, size(sw, ew), PW, W); // [R, PW·G]
  const flat = d.op('Reshape', [d.op('Gather', ['X', 'batch_indices'], { axis: 0 }), d.ints([0, 0, -1])]); // [R, C, H·W]
  const [A, B] = [PH * G, PW * G];
  const spread = d.op('Concat', [d.op('Slice', [d.op('Shape', [flat]), d.ints([0]), d.ints([2])]), d.ints([A * B])], {
    axis: 0,
  });
  const at = (yi: string, xi: string) => {
    const idx = d.op('Add', [d.op('Mul', [d.unsqueeze(yi, [2]), d.b.constI64(W)]), d.unsqueeze(xi, [1])]); // [R, A, B]
    const wide = d.op('Expand', [d.op('Reshape', [idx, d.ints([0, 1, -1])]), spread]);
    return d.op('Reshape', [d.op('GatherElements', [flat, wide], { axis: 2 }), d.ints([0, 0, A, B])]);
  };
  const wy = (v: string) => d.unsqueeze(v, [1, 3]); // [R, 1, A, 1]
  const wx = (v: string) => d.unsqueeze(v, [1, 2]); // [R, 1, 1, B]
  const mask = d.op('Mul', [wy(y.valid), wx(x.valid)]);
  const terms = [
    d.op('Mul', [at(y.low, x.low), d.op('Mul', [wy(y.h), wx(x.h)])]),
    d.op('Mul', [at(y.low, x.high), d.op('Mul', [wy(y.h), wx(x.l)])]),
    d.op('Mul', [at(y.high, x.low), d.op('Mul', [wy(y.l), wx(x.h)])]),
    d.op('Mul', [at(y.high, x.high), d.op('Mul', [wy(y.l), wx(x.l)])]),
  ];
  const max = c.attr('mode', 'avg') === 'max';
  const v = d.op('Mul', [d.op(max ? 'Max' : 'Sum', terms), mask]);
  const bins = d.op('Reshape', [v, d.ints([0, 0, PH, G, PW, G])]);
  const out = max ? d.reduceMax(bins, [3, 5]) : d.op('Mul', [d.reduceSum(bins, [3, 5]), d.k(1 / (G * G))]);
  const wrt = [c.needs(0) ? 'X' : '', c.needs(1) ? 'rois' : ''].filter(Boolean);
  const g = d.vjp(
    c,
    [out],
    [
      ['X', X],
      ['rois', rois],
      ['batch_indices', bi],
    ],
    wrt,
  );
  return [c.needs(0) ? g[0] : undefined, c.needs(1) ? g[wrt.indexOf('rois')] : undefined, undefined];
};
