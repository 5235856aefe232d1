/**
 * Activations defined piece by piece or with a parameter: Elu Selu Celu HardSigmoid HardSwish Mish Softsign Shrink
 * ThresholdedRelu PRelu. Masks are bool comparisons cast to the data type (no Where: these ops predate opset 9).
 */
import type { Rule, VjpContext } from '../rule-context.ts';

const mul = (c: VjpContext, a: string, b: string) => c.emit('Mul', [a, b]);
/** A comparison of X with a constant, as 0/1 in X's type. */
const mask = (c: VjpContext, op: 'Greater' | 'Less', v: string | number) => {
  const x = c.x(0);
  return c.emit('Cast', [c.emit(op, [x, typeof v === 'number' ? c.scalar(v, x) : v])], { to: c.elem(x) });
};
/** m·a + (1 − m)·b for a 0/1 mask m. */
const choose = (c: VjpContext, m: string, a: string, b: string) =>
  c.emit('Add', [mul(c, m, a), mul(c, c.emit('Sub', [c.scalar(1, m), m]), b)]);

// Y = X (X > 0), α(eˣ − 1) else.  dX = dY·(1 where X > 0, Y + α else)
export const elu: Rule = (c) => {
  const [y, a] = [c.y(0), c.attr('alpha', 1)];
  return [mul(c, c.gy(0)!, choose(c, mask(c, 'Greater', 0), c.scalar(1, y), c.emit('Add', [y, c.scalar(a, y)])))];
};

// Y = γX (X > 0), γα(eˣ − 1) else.  dX = dY·(γ where X > 0, Y + γα else)
export const selu: Rule = (c) => {
  const [y, a, g] = [c.y(0), c.attr('alpha', 1.6732631921768188), c.attr('gamma', 1.0507010221481323)];
  return [mul(c, c.gy(0)!, choose(c, mask(c, 'Greater', 0), c.scalar(g, y), c.emit('Add', [y, c.scalar(g * a, y)])))];
};

// Y = max(0, X) + min(0, α(e^(X/α) − 1)).  dX = dY·(1 where X > 0, e^(X/α) else)
export const celu: Rule = (c) => {
  const [x, a] = [c.x(0), c.attr('alpha', 1)];
  const e = c.emit('Exp', [mul(c, x, c.scalar(1 / a, x))]);
  return [mul(c, c.gy(0)!, choose(c, mask(c, 'Greater', 0), c.scalar(1, x), e))];
};

// Y = max(0, min(1, αX + β)).  dX = dY·α where 0 < αX + β < 1
export const hardSigmoid: Rule = (c) => {
  const [x, a, b] = [c.x(0), c.attr('alpha', 0.2), c.attr('beta', 0.5)];
  const lo = (0 - b) / a;
  const hi = (1 - b) / a;
  const inside = mul(c, mask(c, 'Greater', Math.min(lo, hi)), mask(c, 'Less', Math.max(lo, hi)));
  return [mul(c, c.gy(0)!, mul(c, inside, c.scalar(a, x)))];
};

// Y = X·max(0, min(1, X/6 + ½)).  dX = dY·(0 for X < −3, 1 for X > 3, X/3 + ½ between)
export const hardSwish: Rule = (c) => {
  const x = c.x(0);
  const mid = c.emit('Add', [mul(c, x, c.scalar(1 / 3, x)), c.scalar(0.5, x)]);
  const d = choose(c, mask(c, 'Greater', 3), c.scalar(1, x), mul(c, mask(c, 'Greater', -3), mid));
  return [mul(c, c.gy(0)!, d)];
};

// Y = X·tanh(softplus X).  dX = dY·(t + X·(1 − t²)·σ(X)), t = tanh(softplus X)
export const mish: Rule = (c) => {
  const x = c.x(0);
  const t = c.emit('Tanh', [c.emit('Softplus', [x])]);
  const dt = mul(c, c.emit('Sub', [c.scalar(1, x), mul(c, t, t)]), c.emit('Sigmoid', [x]));
  return [mul(c, c.gy(0)!, c.emit('Add', [t, mul(c, x, dt)]))];
};

// Y = X/(1 + |X|).  dX = dY/(1 + |X|)²
export const softsign: Rule = (c) => {
  const x = c.x(0);
  const d = c.emit('Add', [c.scalar(1, x), c.emit('Abs', [x])]);
  return [c.emit('Div', [c.gy(0)!, mul(c, d, d)])];
};

// Y = X ± bias where |X| > λ, 0 else.  dX = dY where X < −λ or X > λ
export const shrink: Rule = (c) => {
  const l = c.attr('lambd', 0.5);
  return [mul(c, c.gy(0)!, c.emit('Add', [mask(c, 'Less', -l), mask(c, 'Greater', l)]))];
};

// Y = X where X > α, 0 else.  dX = dY where X > α
export const thresholdedRelu: Rule = (c) => [mul(c, c.gy(0)!, mask(c, 'Greater', c.attr('alpha', 1)))];

// Y = X (X ≥ 0), slope·X else.  dX = dY·(1 or slope), dSlope = dY·X where X < 0 (summed to slope's shape by the driver)
export const prelu: Rule = (c) => {
  const [x, slope, g] = [c.x(0), c.x(1), c.gy(0)!];
  const neg = mask(c, 'Less', 0);
  return [
    c.needs(0) ? mul(c, g, choose(c, neg, slope, c.scalar(1, x))) : undefined,
    c.needs(1) ? mul(c, g, mul(c, neg, x)) : undefined,
  ];
};
