/**
 * Loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (= NLL of LogSoftmax over axis 1). With
 * P[n,d] = X[n, t[n,d], d] the picked log-probability, w = weight[t] (1 without weights) and m = [t ≠ ignore_index]:
 *   none: Y[n,d] = −P·w·m     sum: Y = Σ −P·w·m     mean: Y = Σ −P·w·m / S,  S = Σ w·m
 * dX = scatter of −G·w·m at class t along axis 1, with G the per-element cotangent (dY, dY broadcast, or dY/S);
 * dweight[c] = Σ_{t = c} (−P − Y·[mean])·m·G (the mean's denominator depends on the weights too).
 */
import { DataType } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';

/** Gradients of NLL(X, t, weight) for an upstream dY, X being `x` (the node's input or LogSoftmax of it). */
const nll = (c: VjpContext, x: string, g: string, loss: string) => {
  const [t0, weight] = [c.x(1), c.x(2)];
  const reduction = c.attr('reduction', 'mean');
  const ii = c.attr<number | undefined>('ignore_index', undefined);
  const t64 = c.elem(t0) === DataType.INT64 ? t0 : c.emit('Cast', [t0], { to: DataType.INT64 });
  const kept = ii === undefined ? undefined : c.emit('Not', [c.emit('Equal', [t64, c.ints([ii])])]);
  const t = kept ? c.emit('Where', [kept, t64, c.ints([0])]) : t64; // ignored targets point at class 0, weight 0
  const cast = (b: string) => c.emit('Cast', [b], { to: c.elem(x) });
  const one = c.scalar(1, x);
  let w = weight ? c.emit('Gather', [weight, t]) : undefined;
  if (kept) w = w ? c.emit('Mul', [w, cast(kept)]) : cast(kept);
  const wOrOne = w ?? c.expandTo(one, t);
  const sum = c.emit('ReduceSum', [wOrOne], { keepdims: 0 });
  const G = reduction === 'none' ? g : c.expandTo(reduction === 'mean' ? c.emit('Div', [g, sum]) : g, t);
  const at = c.unsqueeze(t, [1]);
  const dX = c.emit(
    'ScatterElements',
    [c.zerosLike(x), at, c.unsqueeze(c.emit('Neg', [c.emit('Mul', [G, wOrOne])]), [1])],
    {
      axis: 1,
    },
  );
  let dW: string | undefined;
  if (weight && c.needs(2)) {
    c.requireOpset(16); // ScatterElements with reduction='add'
    const picked = c.squeeze(c.emit('GatherElements', [x, at], { axis: 1 }), [1]);
    let a = c.emit('Neg', [picked]);
    if (reduction === 'mean') a = c.emit('Sub', [a, loss]);
    if (kept) a = c.emit('Mul', [a, cast(kept)]);
    const flat = (v: string) => c.emit('Reshape', [v, c.ints([-1])]);
    dW = c.emit('ScatterElements', [c.zerosLike(weight), flat(t), flat(c.emit('Mul', [a, G]))], {
      axis: 0,
      reduction: 'add',
    });
  }
  return { dX, dW };
};

// NegativeLogLikelihoodLoss: see above.
export const negativeLogLikelihoodLoss: Rule = (c) => {
  const { dX, dW } = nll(c, c.x(0), c.gy(0)!, c.y(0));
  return [dX, undefined, dW];
};

// SoftmaxCrossEntropyLoss: L = NLL(LogSoftmax(X, axis 1)); dX = dLP − softmax(X)·Σ_c dLP with dLP the NLL gradient
// of the log-probabilities plus the cotangent of the log_prob output.
export const softmaxCrossEntropyLoss: Rule = (c) => {
  const x = c.x(0);
  const lp = c.y(1) || c.emit('LogSoftmax', [x], { axis: 1 });
  const { dX: dLoss, dW } = nll(c, lp, c.gyOrZeros(0), c.y(0));
  const dLP = c.gy(1) ? c.emit('Add', [dLoss, c.gy(1)!]) : dLoss;
  const total = c.reduceSum(dLP, [1], true);
  return [c.emit('Sub', [dLP, c.emit('Mul', [c.emit('Exp', [lp]), total])]), undefined, dW];
};
