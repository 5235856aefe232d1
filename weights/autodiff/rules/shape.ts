/**
 * Data movement: Reshape Flatten Squeeze Unsqueeze Transpose Concat Split Slice Expand Pad Cast Identity Dropout.
 * Each gradient moves dY back to where the forward took X from.
 */
import { DataType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { isDifferentiable } from '../shape-infer.ts';
import { movedByGrid } from './index-grid.ts';

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

/** Axes of Squeeze/Unsqueeze: attribute before opset 13, input after; undefined when not static. */
const axesOf = (c: VjpContext): number[] | undefined =>
  c.opset >= 13 ? (c.x(1) ? c.values(c.x(1)) : []) : c.attr<number[]>('axes', []);

// Pure views: dX = Reshape(dY, shape(X)); an X with a 0-sized dim needs allowzero (opset 14) or is all zeros
export const reshape: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(0)!];
  if (!c.shape(x)?.includes(0)) return [c.emit('Reshape', [g, c.reshapeTo(x)])];
  return [c.opset >= 14 ? c.emit('Reshape', [g, c.shapeOf(x)], { allowzero: 1 }) : c.zerosLike(x)];
};

// dX = Unsqueeze(dY, axes) — or a Reshape when the squeezed axes are only known at run time
export const squeeze: Rule = (c) => {
  const axes = axesOf(c);
  if (!axes || axes.length === 0) return reshape(c);
  const r = c.rank(c.x(0));
  return [
    c.unsqueeze(
      c.gy(0)!,
      axes.map((a) => norm(a, r)),
    ),
  ];
};

// dX = Squeeze(dY, axes)
export const unsqueeze: Rule = (c) => {
  const axes = axesOf(c);
  if (!axes) return reshape(c);
  const r = c.rank(c.y(0));
  return [
    c.squeeze(
      c.gy(0)!,
      axes.map((a) => norm(a, r)),
    ),
  ];
};

// dX = Transpose(dY, perm⁻¹)
export const transpose: Rule = (c) => {
  const r = c.rank(c.x(0));
  const perm = c.attr<number[]>(
    'perm',
    Array.from({ length: r }, (_, k) => r - 1 - k),
  );
  const inv = new Array<number>(r);
  perm.forEach((p, k) => (inv[p] = k));
  return [c.emit('Transpose', [c.gy(0)!], { perm: inv })];
};

// dXᵢ = the i-th piece of dY along the axis: Split(dY, sizes of the Xᵢ)
export const concat: Rule = (c) => {
  const ins = c.node.inputs;
  const r = c.rank(c.x(0));
  const axis = norm(c.attr('axis', 0), r);
  const dims = ins.map((x) => c.shape(x)?.[axis]);
  const split = dims.every((d) => typeof d === 'number')
    ? c.ints(dims as number[])
    : c.opset >= 13
      ? c.emit(
          'Concat',
          ins.map((x) => c.dimOf(x, axis)),
          { axis: 0 },
        )
      : c.fail('with dynamic sizes before opset 13');
  const outs =
    c.opset >= 13
      ? c.emitN('Split', [c.gy(0)!, split], ins.length, { axis })
      : c.emitN('Split', [c.gy(0)!], ins.length, { axis, split: dims as number[] });
  return outs.map((o, k) => (c.needs(k) ? o : undefined));
};

// dX = Concat(dY₀, dY₁, …) along the axis, zeros for outputs no gradient reached
export const split: Rule = (c) => {
  const axis = norm(c.attr('axis', 0), c.rank(c.x(0)));
  return [
    c.emit(
      'Concat',
      c.node.outputs.map((_, k) => c.gyOrZeros(k)),
      { axis },
    ),
  ];
};

/** Pads that put a Slice's output back in place: [begins…, ends…] over all axes, static where possible. */
const slicePads = (
  c: VjpContext,
  x: string,
  axes: number[],
  starts: (number | string)[],
  ends: (number | string)[],
): string => {
  const r = c.rank(x);
  const shape = c.shape(x)!;
  const big = 2 ** 31 - 1;
  const fixed: (number | undefined)[] = new Array(2 * r).fill(0);
  axes.forEach((a, j) => {
    const [s, e, d] = [starts[j], ends[j], shape[a]];
    if (typeof s !== 'number' || typeof e !== 'number') return void (fixed[a] = fixed[a + r] = undefined);
    if (typeof d === 'number') {
      const cl = (v: number) => Math.min(Math.max(norm(v, d), 0), d);
      fixed[a] = cl(s);
      fixed[a + r] = d - Math.max(cl(e), cl(s));
    } else if (s >= 0 && e >= big) fixed[a] = s;
    else fixed[a] = fixed[a + r] = undefined;
  });
  if (fixed.every((p) => p !== undefined)) return c.ints(fixed as number[]);
  // Run-time pads: begin = clamp(start), end = dim − max(clamp(end), begin), with negatives counted from the end.
  const i64 = (v: number | string, j: number) => {
    if (typeof v === 'number') return c.ints([v]);
    const one = c.emit('Slice', [v, c.ints([j]), c.ints([j + 1])]);
    return c.elem(one) === DataType.INT64 ? one : c.emit('Cast', [one], { to: DataType.INT64 });
  };
  const zero = c.ints([0]);
  const clamp = (v: string, dim: string) => {
    const pos = c.emit('Where', [c.emit('Less', [v, zero]), c.emit('Add', [v, dim]), v]);
    return c.emit('Min', [c.emit('Max', [pos, zero]), dim]);
  };
  const pieces = Array.from({ length: 2 * r }, (_, k) => (fixed[k] !== undefined ? c.ints([fixed[k]!]) : ''));
  axes.forEach((a, j) => {
    if (pieces[a] && pieces[a + r]) return;
    const dim = c.dimOf(x, a);
    const b = clamp(i64(starts[j], j), dim);
    pieces[a] = b;
    pieces[a + r] = c.emit('Sub', [dim, c.emit('Max', [clamp(i64(ends[j], j), dim), b])]);
  });
  return c.emit('Concat', pieces, { axis: 0 });
};

// dX = Pad(dY) with zeros where the slice dropped elements (steps of 1; other slices through the index grid)
export const slice: Rule = (c) => {
  const x = c.x(0);
  const r = c.rank(x);
  const input = (k: number, name: string): (number | string)[] | undefined => {
    if (c.opset < 10) return c.attr<number[] | undefined>(name, undefined);
    if (!c.x(k)) return undefined;
    const v = c.values(c.x(k));
    const n = c.shape(c.x(k))?.[0];
    return v ?? (typeof n === 'number' ? Array.from({ length: n }, () => c.x(k)) : undefined);
  };
  const starts = input(1, 'starts');
  const ends = input(2, 'ends');
  if (!starts || !ends || c.shape(x) === undefined) return movedByGrid(c);
  const all = starts!.map((_, k) => k);
  const axes = c.opset < 10 ? c.attr<number[]>('axes', all) : c.x(3) ? c.values(c.x(3)) : all;
  const steps = c.opset >= 10 && c.x(4) ? c.values(c.x(4)) : undefined;
  // Run-time axes or steps other than 1: through the index grid.
  if (!axes || (c.x(4) && (!steps || steps.some((s) => s !== 1)))) return movedByGrid(c);
  const pads = slicePads(
    c,
    x,
    axes!.map((a) => norm(a, r)),
    starts!,
    ends!,
  );
  return [
    c.opset >= 11
      ? c.emit('Pad', [c.gy(0)!, pads])
      : c.emit('Pad', [c.gy(0)!], { pads: c.values(pads) ?? c.fail('with dynamic bounds before opset 11') }),
  ];
};

// dX = dY summed over the broadcast axes (done by the driver)
export const expand: Rule = (c) => [c.gy(0), undefined];

// Constant-mode Pad: dX = Pad(dY, −pads), which crops what the forward added (and pads back what it cropped);
// the constant value gets dV = Σ dY − Σ dX, the sum over the padding. Edge/reflect/wrap modes repeat elements of X:
// through the index grid.
export const pad: Rule = (c) => {
  const mode = c.attr<string>('mode', 'constant');
  if (mode !== 'constant') return [...movedByGrid(c), undefined, undefined, undefined];
  const g = c.gy(0)!;
  let dX: string;
  if (c.opset < 11) dX = c.emit('Pad', [g], { pads: c.attr<number[]>('pads', []).map((p) => -p) });
  else {
    const k = c.values(c.x(1));
    const neg = k ? c.ints(k.map((p) => -p)) : c.emit('Neg', [c.x(1)]);
    dX = c.emit('Pad', c.x(3) ? [g, neg, '', c.x(3)] : [g, neg]);
  }
  const total = (v: string) => c.emit('ReduceSum', [v], { keepdims: 0 });
  const dV = c.needs(2) ? c.emit('Sub', [total(g), total(dX)]) : undefined;
  return [dX, undefined, dV, undefined];
};

// dX = Cast(dY, type of X) for float X; integer inputs get none
export const cast: Rule = (c) => {
  const [e, g] = [c.elem(c.x(0)), c.gy(0)!];
  if (!isDifferentiable(e)) return [undefined];
  return [c.elem(g) === e ? g : c.emit('Cast', [g], { to: e })];
};

// dX = dY
export const identity: Rule = (c) => [c.gy(0)];

// Inference-mode Dropout is the identity; training mode would need the mask (output 1).
export const dropout: Rule = (c) => {
  const training = c.opset >= 12 && c.x(2) ? c.values(c.x(2))?.[0] : 0;
  if (training !== 0) c.fail('in training mode');
  return [c.gy(0)];
};
