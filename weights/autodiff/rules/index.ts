/** Indexing and masking: Gather, GatherElements, Trilu, CumSum, TopK, Scatter*, MaxUnpool, OneHot. */
import { DataType } from '../../onnx/proto.ts';
import { tensor } from '../../../common/tensor.ts';
import type { Rule, VjpContext } from '../rule-context.ts';

const norm = (a: number, r: number) => (a < 0 ? a + r : a);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/** float32 zeros of a run-time shape (scatters accumulate in float32: onnxruntime's CPU ScatterND/ScatterElements
 * have no float16 'add', and sums of many rows want the precision anyway). */
const zeros32 = (c: VjpContext, shape: string) =>
  c.emit('ConstantOfShape', [shape], { value: tensor('float32', [1], Float32Array.of(0)) });

/** Indices as int64 (ScatterND wants int64). */
const asI64 = (c: VjpContext, idx: string) =>
  c.elem(idx) === DataType.INT64 ? idx : c.emit('Cast', [idx], { to: DataType.INT64 });

// Y = X.take(idx, axis).  dX = zeros(X) with dY added at idx: ScatterND(reduction='add'), opset 16, with the
// gathered axis moved to the front (and back) when it is not axis 0. Repeated indices add up, as they should.
export const gather: Rule = (c) => {
  if (!c.needs(0)) return [];
  c.requireOpset(16);
  const [x, g] = [c.x(0), c.gy(0)!];
  const r = c.rank(x);
  const q = c.rank(c.x(1));
  const axis = norm(c.attr('axis', 0), r);
  const idx = c.unsqueeze(asI64(c, c.x(1)), [q]);
  if (axis === 0)
    return [c.castLike(c.emit('ScatterND', [zeros32(c, c.shapeOf(x)), idx, c.f32(g)], { reduction: 'add' }), g)];
  const permX = [axis, ...range(0, axis), ...range(axis + 1, r)];
  const inv = permX.map((_, k) => permX.indexOf(k));
  const gt = c.emit('Transpose', [c.f32(g)], {
    perm: [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, r - 1 + q)],
  });
  const shapeT = c.emit('Gather', [c.shapeOf(x), c.ints(permX)]);
  const scattered = c.emit('ScatterND', [zeros32(c, shapeT), idx, gt], { reduction: 'add' });
  return [c.castLike(c.emit('Transpose', [scattered], { perm: inv }), g)];
};

// Y[i…] = X[…idx[i…]…] along axis.  dX = ScatterElements(zeros(X), idx, dY, axis, reduction='add') (opset 16).
export const gatherElements: Rule = (c) => {
  if (!c.needs(0)) return [];
  c.requireOpset(16);
  const [x, g] = [c.x(0), c.gy(0)!];
  const s = c.emit('ScatterElements', [zeros32(c, c.shapeOf(x)), asI64(c, c.x(1)), c.f32(g)], {
    axis: c.attr('axis', 0),
    reduction: 'add',
  });
  return [c.castLike(s, g)];
};

// Trilu keeps a triangle: dX = Trilu(dY) with the same k and upper.
export const trilu: Rule = (c) => [
  c.emit('Trilu', c.x(1) ? [c.gy(0)!, c.x(1)] : [c.gy(0)!], { upper: c.attr('upper', 1) }),
];

// Y = cumsum(X).  dX = cumsum of dY in the other direction (same exclusive flag).
export const cumSum: Rule = (c) => [
  c.emit('CumSum', [c.gy(0)!, c.x(1)], { exclusive: c.attr('exclusive', 0), reverse: 1 - c.attr('reverse', 0) }),
  undefined,
];

// Y = X's k largest (smallest) along the axis, I their positions.  dX = ScatterElements(zeros(X), I, dY, axis).
export const topK: Rule = (c) => {
  const x = c.x(0);
  const g = c.gyOrZeros(0);
  return [
    c.emit('ScatterElements', [c.zerosLike(x), c.y(1) || c.emitCopyN(c.node.inputs, 2)[1], g], {
      axis: c.attr('axis', -1),
    }),
    undefined,
  ];
};

// ScatterElements / ScatterND (Scatter is ScatterElements before opset 11), dU read with the matching gather:
//   none: dData = dY with the written positions zeroed, dU = dY at the indices
//   add:  dData = dY,                                   dU = dY at the indices
//   mul:  dData = dY·Π(updates written there),         dU = (dY·Y at the indices)/U  (U without zeros)
const scatter =
  (gather: 'GatherElements' | 'GatherND'): Rule =>
  (c) => {
    const reduction = c.attr('reduction', 'none');
    if (reduction === 'max' || reduction === 'min') c.fail(`with reduction '${reduction}' (not written)`);
    const [data, idx, upd, g] = [c.x(0), c.x(1), c.x(2), c.gy(0)!];
    const axis = gather === 'GatherElements' ? { axis: c.attr('axis', 0) } : {};
    const op = c.node.opType === 'Scatter' ? 'Scatter' : gather === 'GatherElements' ? 'ScatterElements' : 'ScatterND';
    const at = (v: string) =>
      c.opset < 11 && gather === 'GatherElements' ? gatherElementsBefore11(c, v) : c.emit(gather, [v, idx], axis);
    if (reduction === 'mul') {
      const ones = c.emit('Add', [c.zerosLike(data), c.scalar(1, data)]);
      const prod = c.emit(op, [ones, idx, upd], { ...axis, reduction: 'mul' });
      return [
        c.needs(0) ? c.emit('Mul', [g, prod]) : undefined,
        undefined,
        c.needs(2) ? c.emit('Div', [at(c.emit('Mul', [g, c.y(0)])), upd]) : undefined,
      ];
    }
    const dData = reduction === 'add' ? g : c.emit(op, [g, idx, c.zerosLike(upd)], axis);
    return [c.needs(0) ? dData : undefined, undefined, c.needs(2) ? at(g) : undefined];
  };
/**
 * GatherElements(v, indices, axis) before opset 11 (no GatherElements yet), for static shapes: a flat Gather at
 * base + index·stride, the base (every coordinate but the axis's) a constant.
 */
const gatherElementsBefore11 = (c: VjpContext, v: string): string => {
  const [ds, us] = [c.shape(c.x(0)), c.shape(c.x(1))];
  if (!ds?.every((d) => typeof d === 'number') || !us?.every((d) => typeof d === 'number'))
    c.fail('with respect to its updates before opset 11 with dynamic shapes');
  const [D, U] = [ds as number[], us as number[]];
  const a = (c.attr('axis', 0) + D.length) % D.length;
  const strides = D.map((_, k) => D.slice(k + 1).reduce((p, q) => p * q, 1));
  const base = Array.from({ length: U.reduce((p, q) => p * q, 1) }, (_, flat) => {
    let [rest, pos] = [flat, 0];
    for (let k = U.length - 1; k >= 0; k--) {
      if (k !== a) pos += (rest % U[k]) * strides[k];
      rest = Math.floor(rest / U[k]);
    }
    return pos;
  });
  const i = c.elem(c.x(1)) === DataType.INT64 ? c.x(1) : c.emit('Cast', [c.x(1)], { to: DataType.INT64 });
  const wrapped = c.emit('Add', [
    i,
    c.emit('Mul', [c.emit('Cast', [c.emit('Less', [i, c.ints([0])])], { to: DataType.INT64 }), c.ints([D[a]])]),
  ]);
  const pos = c.emit('Add', [
    c.emit('Reshape', [c.ints(base), c.ints(U)]),
    c.emit('Mul', [wrapped, c.ints([strides[a]])]),
  ]);
  const flat = (t: string) => c.emit('Reshape', [t, c.ints([-1])]);
  return c.emit('Reshape', [c.emit('Gather', [flat(v), flat(pos)]), c.ints(U)]);
};

/** ScatterElements (and the older Scatter). */
export const scatterElements = scatter('GatherElements');
/** ScatterND. */
export const scatterND = scatter('GatherND');

// Y = zeros of the output shape with X written at the flat positions I.  dX = dY read at I.
export const maxUnpool: Rule = (c) => {
  const flat = (v: string) => c.emit('Reshape', [v, c.ints([-1])]);
  const i = c.elem(c.x(1)) === DataType.INT64 ? c.x(1) : c.emit('Cast', [c.x(1)], { to: DataType.INT64 });
  return [c.emit('Reshape', [c.emit('Gather', [flat(c.gy(0)!), flat(i)]), c.shapeOf(c.x(0))]), undefined, undefined];
};

// Y = on where the one-hot position is hit, off elsewhere (values = [off, on]).  dvalues = [Σ dY·(1 − H), Σ dY·H]
// with H the one-hot pattern itself (the same OneHot with values [0, 1]); indices and depth select, no gradient.
export const oneHot: Rule = (c) => {
  if (!c.needs(2)) return [];
  const v = c.x(2);
  const pattern = c.emitCopy([
    c.x(0),
    c.x(1),
    c.emit('Concat', [c.unsqueeze(c.scalar(0, v), [0]), c.unsqueeze(c.scalar(1, v), [0])], { axis: 0 }),
  ]);
  const on = c.emit('ReduceSum', [c.emit('Mul', [c.gy(0)!, pattern])], { keepdims: 0 });
  const all = c.emit('ReduceSum', [c.gy(0)!], { keepdims: 0 });
  return [
    undefined,
    undefined,
    c.emit('Concat', [c.unsqueeze(c.emit('Sub', [all, on]), [0]), c.unsqueeze(on, [0])], { axis: 0 }),
  ];
};

// DynamicQuantizeLinear's float output: scale = (max(0, max X) − min(0, min X))/255 (the uint8 outputs are piecewise
// constant).  dX = dScale/255 at the maximum (when positive), −dScale/255 at the minimum (when negative), ties
// sharing equally.
export const dynamicQuantizeLinear: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(1)];
  if (!g) return [];
  const at = (op: 'ReduceMax' | 'ReduceMin', sign: number) => {
    const m = c.emit(op, [x], { keepdims: 1 });
    const hit = c.emit('Cast', [c.equal(x, m)], { to: c.elem(x) });
    const beyond = c.emit('Cast', [c.emit(sign > 0 ? 'Greater' : 'Less', [m, c.scalar(0, x)])], { to: c.elem(x) });
    const share = c.emit('Div', [beyond, c.emit('ReduceSum', [hit], { keepdims: 1 })]);
    return c.emit('Mul', [hit, c.emit('Mul', [share, c.scalar(sign / 255, x)])]);
  };
  return [c.emit('Mul', [c.emit('Add', [at('ReduceMax', 1), at('ReduceMin', -1)]), g])];
};

// DequantizeLinear: Y = (X − zero_point)·scale with integer X, scale a scalar or a vector along `axis`.
// dscale = Σ dY·(X − zero_point) over every axis but that one.
export const dequantizeLinear: Rule = (c) => {
  if (!c.needs(1)) return [];
  const [x, scale, zp, g] = [c.x(0), c.x(1), c.x(2), c.gy(0)!];
  const r = c.rank(x);
  const perAxis = c.rank(scale) === 1;
  const a = perAxis ? ((c.attr('axis', 1) % r) + r) % r : -1;
  const others = Array.from({ length: r }, (_, k) => k).filter((k) => k !== a);
  const f = (v: string) => c.emit('Cast', [v], { to: c.elem(scale) });
  const along = (v: string) => (perAxis ? c.unsqueeze(v, others) : v);
  const centred = zp ? c.emit('Sub', [f(x), along(f(zp))]) : f(x);
  return [
    undefined,
    c.reduceSum(c.emit('Mul', [g, centred]), perAxis ? others : Array.from({ length: r }, (_, k) => k), false),
    undefined,
  ];
};
