/** Activations and masks: Sigmoid Tanh Relu LeakyRelu Softplus Gelu Clip Softmax LogSoftmax. */
import { attentionShiftedCotangent } from './attention-softmax.ts';
import type { Rule, VjpContext } from '../rule-context.ts';

// dX = dY·Y·(1 − Y)
export const sigmoid: Rule = (c) => {
  const y = c.y(0);
  return [c.emit('Mul', [c.gy(0)!, c.emit('Mul', [y, c.emit('Sub', [c.scalar(1, y), y])])])];
};

// dX = dY·(1 − Y²)
export const tanh: Rule = (c) => {
  const y = c.y(0);
  return [c.emit('Mul', [c.gy(0)!, c.emit('Sub', [c.scalar(1, y), c.emit('Mul', [y, y])])])];
};

// dX = dY where Y > 0, else 0
export const relu: Rule = (c) => [
  c.emit('Where', [c.emit('Greater', [c.y(0), c.scalar(0, c.y(0))]), c.gy(0)!, c.scalar(0, c.y(0))]),
];

// dX = dY where X > 0, else α·dY (Y > 0 exactly when X > 0 for α > 0, so read Y)
export const leakyRelu: Rule = (c) => {
  const [y, g] = [c.y(0), c.gy(0)!];
  const alpha = c.attr('alpha', 0.01);
  const pos = alpha > 0 ? c.emit('Greater', [y, c.scalar(0, y)]) : c.emit('Greater', [c.x(0), c.scalar(0, y)]);
  return [c.emit('Where', [pos, g, c.emit('Mul', [g, c.scalar(alpha, g)])])];
};

// dX = dY·σ(X)
export const softplus: Rule = (c) => [c.emit('Mul', [c.gy(0)!, c.emit('Sigmoid', [c.x(0)])])];

// exact:  dX = dY·(Φ(X) + X·φ(X)),  Φ = ½(1 + erf(X/√2)), φ = exp(−X²/2)/√(2π)
// tanh:   t = tanh(√(2/π)(X + 0.044715X³)),  dX = dY·(½(1 + t) + ½X(1 − t²)·√(2/π)(1 + 3·0.044715X²))
export const gelu: Rule = (c) => {
  const x = c.x(0);
  const k = (v: number) => c.scalar(v, x);
  const mul = (a: string, b: string) => c.emit('Mul', [a, b]);
  const add = (a: string, b: string) => c.emit('Add', [a, b]);
  const x2 = mul(x, x);
  let d: string;
  if (c.attr('approximate', 'none') === 'tanh') {
    const t = c.emit('Tanh', [mul(k(Math.sqrt(2 / Math.PI)), add(x, mul(k(0.044715), mul(x2, x))))]);
    const dt = mul(
      c.emit('Sub', [k(1), mul(t, t)]),
      mul(k(Math.sqrt(2 / Math.PI)), add(k(1), mul(k(3 * 0.044715), x2))),
    );
    d = mul(k(0.5), add(add(k(1), t), mul(x, dt)));
  } else {
    const cdf = mul(k(0.5), add(k(1), c.emit('Erf', [mul(x, k(Math.SQRT1_2))])));
    const pdf = mul(c.emit('Exp', [mul(x2, k(-0.5))]), k(1 / Math.sqrt(2 * Math.PI)));
    d = add(cdf, mul(x, pdf));
  }
  return [mul(c.gy(0)!, d)];
};

// Y = min(max(X, lo), hi) (bounds as inputs from opset 11, attributes before).  dX = dY where lo ≤ X ≤ hi;
// dlo = dY where X < lo ≤ hi, dhi = dY where max(X, lo) > hi (with lo > hi every Y is hi), each summed to the bound's
// shape by the driver.
export const clip: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(0)!];
  const bound = (i: number, name: string): string | undefined => {
    if (c.opset >= 11) return c.x(i) || undefined;
    const v = c.attr<number | undefined>(name, undefined);
    return v === undefined ? undefined : c.scalar(v, x);
  };
  const [lo, hi] = [bound(1, 'min'), bound(2, 'max')];
  const not = (m: string) => c.emit('Not', [m]);
  const below = lo && c.emit('Less', [x, lo]);
  const above = hi && c.emit('Greater', [lo ? c.emit('Max', [x, lo]) : x, hi]);
  const keep = [below && not(below), above && not(above)].filter((m): m is string => !!m);
  const where = (m: string) => c.emit('Where', [m, g, c.scalar(0, g)]);
  const loWins = below && (hi ? c.emit('And', [below, not(c.emit('Greater', [lo!, hi]))]) : below);
  return [
    c.needs(0) ? (keep.length === 0 ? g : where(keep.length === 2 ? c.emit('And', keep) : keep[0])) : undefined,
    c.needs(1) && loWins ? where(loWins) : undefined,
    c.needs(2) && above ? where(above) : undefined,
  ];
};

/** Softmax axes: one axis from opset 13; before that, the input is coerced to 2-D at `axis`. */
const softmaxAxes = (c: VjpContext): number[] => {
  const axis = c.attr('axis', c.opset >= 13 ? -1 : 1);
  if (c.opset >= 13) return [axis];
  const r = c.rank(c.x(0));
  const a = axis < 0 ? axis + r : axis;
  return Array.from({ length: r - a }, (_, k) => a + k);
};

// dX = Y·(dY − Σ(dY·Y)), the sum over the softmax axis in float32 for float16 models; in attention (Y·V) the
// sum is Σ dO·O over the head width instead, and dY − Σ is one product [dO | −Σ]·[V | 1]ᵀ (attention-softmax.ts)
export const softmax: Rule = (c) => {
  const [y, g] = [c.y(0), c.gy(0)!];
  const axes = softmaxAxes(c);
  const shifted = attentionShiftedCotangent(c, axes);
  if (shifted) return [c.emit('Mul', [y, shifted])];
  const s = c.castLike(c.reduceSum(c.f32(c.emit('Mul', [g, y])), axes, true), y);
  return [c.emit('Mul', [y, c.emit('Sub', [g, s])])];
};

// dX = dY − exp(Y)·Σ dY
export const logSoftmax: Rule = (c) => {
  const [y, g] = [c.y(0), c.gy(0)!];
  const s = c.castLike(c.reduceSum(c.f32(g), softmaxAxes(c), true), y);
  return [c.emit('Sub', [g, c.emit('Mul', [c.emit('Exp', [y]), s])])];
};
