/**
 * Reductions: ReduceSum ReduceMean ReduceSumSquare ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
 * ReduceMin ReduceProd. Each gradient is a pointwise factor times dY put back in X's shape (`spread`), which needs
 * no rank when the axes are all, an input known only at run time, or kept (keepdims).
 */
import type { Rule, VjpContext } from '../rule-context.ts';

/** Axes as an input from opset 13 (ReduceSum) or 18 (the others), an attribute before. */
const axesInput = (c: VjpContext) => c.opset >= (c.node.opType === 'ReduceSum' ? 13 : 18);

/**
 * The reduced axes: 'all', 'none' (noop_with_empty_axes with empty axes), a static list, or the name of a run-time
 * axes tensor.
 */
const reducedAxes = (c: VjpContext): 'all' | 'none' | number[] | { runtime: string } => {
  const fromInput = axesInput(c);
  const axes = fromInput ? (c.x(1) ? c.values(c.x(1)) : []) : c.attr<number[]>('axes', []);
  if (!axes) return { runtime: c.x(1) };
  if (axes.length > 0) return axes;
  return fromInput && c.attr('noop_with_empty_axes', 0) === 1 ? 'none' : 'all';
};

/**
 * `v`, shaped like Y, put back in X's shape: Unsqueeze the dropped axes (keepdims = 0), then Expand. Negative axes
 * are normalised when the rank is known, else left to Unsqueeze (from opset 11 it counts them from its output's
 * rank, which is X's).
 */
const spread = (c: VjpContext, v: string): string => {
  const axes = reducedAxes(c);
  if (axes === 'none') return v;
  let k = v;
  if (c.attr('keepdims', 1) === 0 && Array.isArray(axes)) {
    const r = c.shape(c.x(0))?.length;
    k = c.unsqueeze(v, r === undefined ? axes : axes.map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b));
  } else if (c.attr('keepdims', 1) === 0 && typeof axes === 'object' && 'runtime' in axes)
    k = c.emit('Unsqueeze', [v, axes.runtime]);
  return c.expandTo(k, c.x(0));
};

/** The same reduction as the node's, as a ReduceSum (for counting ties). */
const sumLikeNode = (c: VjpContext, v: string): string => {
  const axes = reducedAxes(c);
  const keep = c.attr('keepdims', 1);
  if (axes === 'none') return v;
  if (axes === 'all') return c.emit('ReduceSum', [v], { keepdims: keep });
  if (Array.isArray(axes)) return c.reduceSum(v, axes, keep === 1);
  return c.emit('ReduceSum', [v, axes.runtime], { keepdims: keep, noop_with_empty_axes: 0 });
};

const mul = (c: VjpContext, a: string, b: string) => c.emit('Mul', [a, b]);

// dX = dY broadcast back over the reduced axes
export const reduceSum: Rule = (c) => [spread(c, c.gy(0)!), undefined];

// dX = dY·|Y|/|X| broadcast back (|·| the element counts, read at run time when not static)
export const reduceMean: Rule = (c) => {
  const [x, y, g] = [c.x(0), c.y(0), c.gy(0)!];
  const [xs, ys] = [c.shape(x), c.shape(y)];
  const count = (s: typeof xs) =>
    s?.every((d) => typeof d === 'number') ? (s as number[]).reduce((a, b) => a * b, 1) : 0;
  const [nx, ny] = [count(xs), count(ys)];
  const ratio =
    nx && ny
      ? c.scalar(ny / nx, g)
      : c.emit('Div', [
          c.emit('Cast', [c.emit('Size', [y])], { to: c.elem(g) }),
          c.emit('Cast', [c.emit('Size', [x])], { to: c.elem(g) }),
        ]);
  return [spread(c, mul(c, g, ratio)), undefined];
};

// Y = Σ X².  dX = 2X·dY
export const reduceSumSquare: Rule = (c) => [
  mul(c, spread(c, c.gy(0)!), mul(c, c.x(0), c.scalar(2, c.x(0)))),
  undefined,
];

// Y = Σ |X|.  dX = sign(X)·dY
export const reduceL1: Rule = (c) => [mul(c, spread(c, c.gy(0)!), c.emit('Sign', [c.x(0)])), undefined];

// Y = √Σ X².  dX = X/Y·dY
export const reduceL2: Rule = (c) => [mul(c, c.x(0), spread(c, c.emit('Div', [c.gy(0)!, c.y(0)]))), undefined];

// Y = log Σ X.  dX = dY/ΣX = dY·exp(−Y)
export const reduceLogSum: Rule = (c) => [spread(c, c.emit('Div', [c.gy(0)!, c.emit('Exp', [c.y(0)])])), undefined];

// Y = log Σ exp X.  dX = softmax = exp(X − Y)·dY
export const reduceLogSumExp: Rule = (c) => [
  mul(c, c.emit('Exp', [c.emit('Sub', [c.x(0), spread(c, c.y(0))])]), spread(c, c.gy(0)!)),
  undefined,
];

// Y = Π X.  dX = dY·Y/X (X without zeros; a zero's gradient, the product of the others, is not formed)
export const reduceProd: Rule = (c) => [c.emit('Div', [spread(c, mul(c, c.gy(0)!, c.y(0))), c.x(0)]), undefined];

// Y = max X (min X).  dX = dY where X = Y, shared equally among ties (as torch's amax/amin do)
const extreme: Rule = (c) => {
  const [x, y, g] = [c.x(0), c.y(0), c.gy(0)!];
  const hit = c.emit('Cast', [c.equal(x, spread(c, y))], { to: c.elem(x) });
  return [mul(c, hit, spread(c, c.emit('Div', [g, sumLikeNode(c, hit)]))), undefined];
};
/** ReduceMax. */
export const reduceMax = extreme;
/** ReduceMin. */
export const reduceMin = extreme;
