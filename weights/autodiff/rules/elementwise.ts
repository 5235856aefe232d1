/**
 * Arithmetic: Add Sub Mul Div Pow Neg Sqrt Exp Log Reciprocal Abs Erf Sin Cos Max Min Sum Where. Rules for
 * binary ops return gradients in the broadcast (output) shape; the driver sums them back to each input's shape.
 */
import type { Rule } from '../rule-context.ts';

// dA = dY, dB = dY
export const add: Rule = (c) => [c.gy(0), c.gy(0)];

// dA = dY, dB = −dY
export const sub: Rule = (c) => [c.gy(0), c.needs(1) ? c.emit('Neg', [c.gy(0)!]) : undefined];

// dA = dY·B, dB = dY·A
export const mul: Rule = (c) => [
  c.needs(0) ? c.emit('Mul', [c.gy(0)!, c.x(1)]) : undefined,
  c.needs(1) ? c.emit('Mul', [c.gy(0)!, c.x(0)]) : undefined,
];

// dA = dY/B, dB = −dY·A/B² = −dA·Y
export const div: Rule = (c) => {
  const dA = c.emit('Div', [c.gy(0)!, c.x(1)]);
  return [c.needs(0) ? dA : undefined, c.needs(1) ? c.emit('Neg', [c.emit('Mul', [dA, c.y(0)])]) : undefined];
};

// dA = dY·B·A^(B−1) (B = 2 → 2A, B = 1 → 1; 0 where B = 0), dB = dY·Y·ln A (0 where A = 0 and B ≥ 0).
// The two zeros are PyTorch's: the limits along the axis where the formula reads 0·∞.
export const pow: Rule = (c) => {
  const [a, b, g] = [c.x(0), c.x(1), c.gy(0)!];
  const k = c.values(b);
  const zero = c.scalar(0, g);
  let dA: string | undefined;
  if (c.needs(0)) {
    const bf = c.castLike(b, a); // the exponent may be an integer tensor
    const d =
      k?.length === 1 && k[0] === 2
        ? c.emit('Mul', [a, c.scalar(2, a)])
        : k?.length === 1 && k[0] === 1
          ? undefined
          : c.emit('Mul', [bf, c.emit('Pow', [a, c.emit('Sub', [bf, c.scalar(1, a)])])]);
    dA = d ? c.emit('Mul', [g, d]) : g;
    if (d && !k) dA = c.emit('Where', [c.equal(bf, c.scalar(0, a)), zero, dA]);
  }
  let dB: string | undefined;
  if (c.needs(1)) {
    const flat = c.emit('And', [c.equal(a, c.scalar(0, a)), c.emit('Not', [c.emit('Less', [b, c.scalar(0, b)])])]);
    dB = c.emit('Where', [flat, zero, c.emit('Mul', [c.emit('Mul', [g, c.y(0)]), c.emit('Log', [a])])]);
  }
  return [dA, dB];
};

// Y = A − B·trunc(A/B) (fmod; float Mod is fmod).  dA = dY, dB = −dY·trunc(A/B), trunc z = sign z·⌊|z|⌋
export const mod: Rule = (c) => {
  const [a, b, g] = [c.x(0), c.x(1), c.gy(0)!];
  const q = c.emit('Div', [a, b]);
  const trunc = c.emit('Mul', [c.emit('Sign', [q]), c.emit('Floor', [c.emit('Abs', [q])])]);
  return [g, c.needs(1) ? c.emit('Neg', [c.emit('Mul', [g, trunc])]) : undefined];
};

// dX = −dY
export const neg: Rule = (c) => [c.emit('Neg', [c.gy(0)!])];

// dX = dY / (2Y)
export const sqrt: Rule = (c) => [c.emit('Div', [c.gy(0)!, c.emit('Mul', [c.y(0), c.scalar(2, c.y(0))])])];

// dX = dY·Y
export const exp: Rule = (c) => [c.emit('Mul', [c.gy(0)!, c.y(0)])];

// dX = dY / X
export const log: Rule = (c) => [c.emit('Div', [c.gy(0)!, c.x(0)])];

// dX = −dY·Y²
export const reciprocal: Rule = (c) => [c.emit('Neg', [c.emit('Mul', [c.gy(0)!, c.emit('Mul', [c.y(0), c.y(0)])])])];

// dX = dY·sign(X)
export const abs: Rule = (c) => [c.emit('Mul', [c.gy(0)!, c.emit('Sign', [c.x(0)])])];

// dX = dY·(2/√π)·exp(−X²)
export const erf: Rule = (c) => {
  const x = c.x(0);
  const e = c.emit('Exp', [c.emit('Neg', [c.emit('Mul', [x, x])])]);
  return [c.emit('Mul', [c.gy(0)!, c.emit('Mul', [e, c.scalar(2 / Math.sqrt(Math.PI), x)])])];
};

// dX = dY·cos X
export const sin: Rule = (c) => [c.emit('Mul', [c.gy(0)!, c.emit('Cos', [c.x(0)])])];

// dX = −dY·sin X
export const cos: Rule = (c) => [c.emit('Neg', [c.emit('Mul', [c.gy(0)!, c.emit('Sin', [c.x(0)])])])];

// Mean of n inputs: every input gets dY/n (each un-broadcast by the driver).
export const mean: Rule = (c) => {
  const share = c.emit('Mul', [c.gy(0)!, c.scalar(1 / c.node.inputs.length, c.gy(0)!)]);
  return c.node.inputs.map(() => share);
};

// Sum: every input gets dY (each un-broadcast by the driver).
export const sum: Rule = (c) => c.node.inputs.map(() => c.gy(0));

// Y = max(X₁…Xₙ) (min).  dXₖ = dY·[Xₖ = Y] / Σⱼ[Xⱼ = Y]: ties share dY equally, as torch's maximum does.
const pick: Rule = (c) => {
  const [y, g] = [c.y(0), c.gy(0)!];
  if (c.node.inputs.length === 1) return [g];
  const hits = c.node.inputs.map((x) => c.emit('Cast', [c.equal(x, y)], { to: c.elem(y) }));
  const share = c.emit('Div', [g, hits.length === 2 ? c.emit('Add', hits) : c.emit('Sum', hits)]);
  return hits.map((h, k) => (c.needs(k) ? c.emit('Mul', [share, h]) : undefined));
};
/** Max of any number of inputs. */
export const max = pick;
/** Min of any number of inputs. */
export const min = pick;

// Where(C, A, B): dA = Where(C, dY, 0), dB = Where(C, 0, dY); none for the condition.
export const where: Rule = (c) => {
  const [cond, g] = [c.x(0), c.gy(0)!];
  const zero = c.scalar(0, g);
  return [
    undefined,
    c.needs(1) ? c.emit('Where', [cond, g, zero]) : undefined,
    c.needs(2) ? c.emit('Where', [cond, zero, g]) : undefined,
  ];
};
