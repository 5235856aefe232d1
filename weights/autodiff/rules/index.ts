/** Indexing and masking: Gather, GatherElements, Trilu, CumSum. */
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
