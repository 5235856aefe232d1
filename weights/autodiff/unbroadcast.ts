/**
 * Undoing broadcasting: the gradient of a broadcast operand is the output gradient summed over the axes the
 * operand was stretched along (ReduceSum, keepdims) and over the leading axes it lacked (then dropped).
 * Decided statically when the shapes tell; otherwise computed at run time from the two shapes, so a dynamic
 * batch of 1 (which broadcasts) and of 8 (which does not) are both right.
 */
import { DataType } from '../onnx/proto.ts';
import { PipelineError } from '../../common/errors.ts';
import { tensor } from '../../common/tensor.ts';
import type { GradEmitter } from './grad-emitter.ts';
import { sameDim } from './symbolic-dim.ts';

const onesI64 = tensor('int64', [1], BigInt64Array.of(1n));

/** Axes to sum (static), or undefined when the shapes cannot tell. */
const staticAxes = (e: GradEmitter, g: string, target: string): { lead: number; axes: number[] } | undefined => {
  const [gs, ts] = [e.shape(g), e.shape(target)];
  if (!gs || !ts || gs.length < ts.length) return undefined;
  const lead = gs.length - ts.length;
  const axes = Array.from({ length: lead }, (_, k) => k);
  for (let j = lead; j < gs.length; j++) {
    const [d, t] = [gs[j], ts[j - lead]];
    if (sameDim(d, t) || d === 1) continue;
    if (t === 1) axes.push(j);
    else return undefined;
  }
  return { lead, axes };
};

/**
 * `g` summed back to the shape of `target` (float32 sums for float16 gradients).
 *
 * @example
 * // y = a + b with a [B,4,8], b [4,1]:  db = unbroadcast(e, dy, 'b')  → ReduceSum(dy, [0,2], keepdims) → Squeeze([0])
 */
export const unbroadcast = (e: GradEmitter, g: string, target: string): string => {
  const st = staticAxes(e, g, target);
  if (st && st.axes.length === 0) return g;
  const half = e.elem(g) === DataType.FLOAT16;
  const g32 = half ? e.f32(g) : g;
  let out: string;
  if (st) {
    const inner = st.axes.length > st.lead;
    const r = e.reduceSum(g32, st.axes, inner);
    out = inner
      ? e.squeeze(
          r,
          Array.from({ length: st.lead }, (_, k) => k),
        )
      : r;
  } else {
    if (e.opset < 13)
      throw new PipelineError(
        'shape_mismatch',
        `cannot tell statically how '${target}' was broadcast, and run-time un-broadcasting needs opset 13`,
      );
    // Run time: pad shape(target) with leading 1s to the gradient's rank, sum where the two differ.
    const [sg, st2] = [e.emit('Shape', [g]), e.shapeOf(target)];
    const ones = e.emit('ConstantOfShape', [e.emit('Sub', [e.emit('Shape', [sg]), e.emit('Shape', [st2])])], {
      value: onesI64,
    });
    const padded = e.emit('Concat', [ones, st2], { axis: 0 });
    const axes = e.emit('Reshape', [e.emit('NonZero', [e.emit('Not', [e.emit('Equal', [padded, sg])])]), e.ints([-1])]);
    const r = e.emit('ReduceSum', [g32, axes], { keepdims: 1, noop_with_empty_axes: 1 });
    out = e.emit('Reshape', [r, st2]);
  }
  return half ? e.castLike(out, g) : out;
};
