/**
 * Linear and cubic Resize (any coordinate mode, scale or antialias) through its interpolation matrix. Resizing the
 * spatial axes is linear in X: Y[n,c] = X[n,c]·M with M [S, S′] over the flattened spatial positions. The same
 * Resize run on the S one-hot images E = eye(S) as a batch gives M's rows, so
 *   dX[n,c] = dY[n,c]·Mᵀ
 * (for tf_crop_and_resize the resize of zeros, the extrapolated constant, is subtracted first). Batch and channel
 * sizes must stay (their scales are read as 1). Costs one S×S′ matrix: fine for feature maps, large for images.
 */
import type { Rule } from '../rule-context.ts';

/** dX = dY·Mᵀ for a linear/cubic Resize (see above). */
export const resizeByMatrix: Rule = (c) => {
  const [x, y, g] = [c.x(0), c.y(0), c.gy(0)!];
  const [xs, ys] = [c.shape(x), c.shape(y)];
  if (!xs?.every((d) => typeof d === 'number') || !ys?.slice(2).every((d) => typeof d === 'number'))
    c.fail('in linear/cubic mode with dynamic spatial sizes');
  const scalesAt = c.node.opType === 'Upsample' || c.opset < 11 ? 1 : 2;
  if (ys![0] !== xs![0] || ys![1] !== xs![1]) c.fail('in linear/cubic mode resizing the batch or channel axis');
  const spatial = (xs as number[]).slice(2);
  const S = spatial.reduce((a, b) => a * b, 1);
  const S2 = (ys!.slice(2) as number[]).reduce((a, b) => a * b, 1);
  const eye = c.emit('EyeLike', [c.zerosOf([S, S], c.elem(x))]);
  const inputs = (batch: string) => {
    const ins = [c.emit('Reshape', [batch, c.ints([S, 1, ...spatial])]), ...c.node.inputs.slice(1)];
    // Scales and sizes (perhaps known only at run time) get batch and channel entries for the one-hot batch.
    const head = (at: number, values: string) => {
      if (!c.x(at) || c.shape(c.x(at))?.[0] === 0) return;
      const tail =
        c.opset < 10
          ? c.emit('Slice', [c.x(at)], { starts: [2], ends: [2 ** 62], axes: [0] })
          : c.emit('Slice', [c.x(at), c.ints([2]), c.ints([2 ** 62])]);
      ins[at] = c.emit('Concat', [values, tail], { axis: 0 });
    };
    if (c.node.inputs.length > scalesAt)
      head(scalesAt, c.emit('Cast', [c.ints([1, 1])], { to: c.elem(c.x(scalesAt)) }));
    if (c.node.inputs.length > scalesAt + 1) head(scalesAt + 1, c.ints([S, 1]));
    return ins;
  };
  let m = c.emit('Reshape', [c.emitCopy(inputs(eye)), c.ints([S, S2])]);
  if (c.attr('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize')
    m = c.emit('Sub', [m, c.emit('Reshape', [c.emitCopy(inputs(c.zerosOf([S, S], c.elem(x)))), c.ints([S, S2])])]);
  const dx = c.emit('MatMul', [c.emit('Reshape', [g, c.ints([-1, S2])]), c.emit('Transpose', [m], { perm: [1, 0] })]);
  return [c.emit('Reshape', [dx, c.shapeOf(x)])];
};
