/**
 * LpNormalization: Y = X / ‖X‖ₚ along `axis` (p = 1 or 2), written out as Div(X, ReduceL1/ReduceL2(X)) so the
 * driver's rules give dX = (dY − ∂‖X‖ₚ/∂X · ⟨dY, Y⟩) / ‖X‖ₚ with ∂‖X‖₂/∂X = Y and ∂‖X‖₁/∂X = sign X. At X = 0 along
 * the axis the norm has no derivative (and Y is 0/0).
 */
import { Decomposition } from '../decomposition.ts';
import type { Rule } from '../rule-context.ts';

export const lpNormalization: Rule = (c) => {
  const X = c.x(0);
  const p = c.attr('p', 2);
  if (p !== 1 && p !== 2) c.fail(`with p = ${p} (the operator defines only p = 1 and 2)`);
  const r = c.rank(X);
  const axis = (c.attr('axis', -1) + r) % r;
  const d = new Decomposition(c.opset, c.elem(X));
  d.input('X', c.elem(X), c.shape(X));
  const op = p === 1 ? 'ReduceL1' : 'ReduceL2';
  const norm =
    c.opset >= 18 ? d.op(op, ['X', d.ints([axis])], { keepdims: 1 }) : d.op(op, ['X'], { axes: [axis], keepdims: 1 });
  return d.vjp(c, [d.op('Div', ['X', norm])], [['X', X]], ['X']);
};
