/** Trigonometric and hyperbolic functions: Tan Asin Acos Atan Sinh Cosh Asinh Acosh Atanh. */
import type { Rule, VjpContext } from '../rule-context.ts';

const mul = (c: VjpContext, a: string, b: string) => c.emit('Mul', [a, b]);
const div = (c: VjpContext, a: string, b: string) => c.emit('Div', [a, b]);
/** X². */
const square = (c: VjpContext) => mul(c, c.x(0), c.x(0));

// dX = dY·(1 + Y²)
export const tan: Rule = (c) => [mul(c, c.gy(0)!, c.emit('Add', [c.scalar(1, c.y(0)), mul(c, c.y(0), c.y(0))]))];

// dX = dY/√(1 − X²)
export const asin: Rule = (c) => [div(c, c.gy(0)!, c.emit('Sqrt', [c.emit('Sub', [c.scalar(1, c.x(0)), square(c)])]))];

// dX = −dY/√(1 − X²)
export const acos: Rule = (c) => [c.emit('Neg', asin(c) as string[])];

// dX = dY/(1 + X²)
export const atan: Rule = (c) => [div(c, c.gy(0)!, c.emit('Add', [c.scalar(1, c.x(0)), square(c)]))];

// dX = dY·cosh X
export const sinh: Rule = (c) => [mul(c, c.gy(0)!, c.emit('Cosh', [c.x(0)]))];

// dX = dY·sinh X
export const cosh: Rule = (c) => [mul(c, c.gy(0)!, c.emit('Sinh', [c.x(0)]))];

// dX = dY/√(X² + 1)
export const asinh: Rule = (c) => [div(c, c.gy(0)!, c.emit('Sqrt', [c.emit('Add', [square(c), c.scalar(1, c.x(0))])]))];

// dX = dY/√(X² − 1)
export const acosh: Rule = (c) => [div(c, c.gy(0)!, c.emit('Sqrt', [c.emit('Sub', [square(c), c.scalar(1, c.x(0))])]))];

// dX = dY/(1 − X²)
export const atanh: Rule = (c) => [div(c, c.gy(0)!, c.emit('Sub', [c.scalar(1, c.x(0)), square(c)]))];
