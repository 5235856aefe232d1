/** Reductions: ReduceSum, ReduceMean, ReduceSumSquare. */
import type { Rule, VjpContext } from '../rule-context.ts';

/**
 * The reduced axes of a Reduce* node, normalised; [] for an identity (noop_with_empty_axes). Axes are an input from
 * opset 13 (ReduceSum) or 18 (the others), an attribute before.
 */
const reducedAxes = (c: VjpContext, r: number): number[] => {
  const from = c.node.opType === 'ReduceSum' ? 13 : 18;
  const axes = c.opset >= from ? (c.x(1) ? c.values(c.x(1)) : []) : c.attr<number[]>('axes', []);
  if (!axes) c.fail('with axes known only at run time');
  if (axes!.length === 0)
    return c.opset >= from && c.attr('noop_with_empty_axes', 0) === 1 ? [] : Array.from({ length: r }, (_, k) => k);
  return axes!.map((a) => (a < 0 ? a + r : a)).sort((a, b) => a - b);
};

/** dY put back in X's shape: Unsqueeze the dropped axes (keepdims = 0), scale, Expand. */
const spread = (c: VjpContext, scale?: (gk: string, axes: number[]) => string): string => {
  const [x, g] = [c.x(0), c.gy(0)!];
  const axes = reducedAxes(c, c.rank(x));
  if (axes.length === 0) return g;
  const gk = c.attr('keepdims', 1) === 1 ? g : c.unsqueeze(g, axes);
  return c.emit('Expand', [scale ? scale(gk, axes) : gk, c.shapeOf(x)]);
};

// dX = dY broadcast back over the reduced axes
export const reduceSum: Rule = (c) => [spread(c), undefined];

// dX = dY/n broadcast back, n = number of reduced elements (counted at run time when dims are dynamic)
export const reduceMean: Rule = (c) => [
  spread(c, (gk, axes) => {
    const x = c.x(0);
    const dims = axes.map((a) => c.shape(x)?.[a]);
    if (dims.every((d) => typeof d === 'number'))
      return c.emit('Mul', [gk, c.scalar(1 / (dims as number[]).reduce((p, d) => p * d, 1), gk)]);
    const n = c.emit('ReduceProd', [c.emit('Gather', [c.shapeOf(x), c.ints(axes)])], { keepdims: 0 });
    return c.emit('Div', [gk, c.emit('Cast', [n], { to: c.elem(gk) })]);
  }),
  undefined,
];

// Y = Σ X².  dX = 2·X·dY broadcast back
export const reduceSumSquare: Rule = (c) => [
  c.emit('Mul', [spread(c), c.emit('Mul', [c.x(0), c.scalar(2, c.x(0))])]),
  undefined,
];
