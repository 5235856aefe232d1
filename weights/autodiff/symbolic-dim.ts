/**
 * Arithmetic on symbolic dimensions. A dim is a size, a symbol, or unknown (null); a symbol may be a product
 * such as `2*batch` or `batch*seq`, written in a canonical order so equal products compare equal as strings.
 * This is all the algebra torch-exported shape chains (Shape → Gather → Mul/Div → Concat → Reshape) need.
 */
import type { Dim } from '../onnx/proto.ts';

interface Monomial {
  coef: number;
  syms: string[];
}

const parse = (d: number | string): Monomial => {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    if (/^\d+$/.test(part)) coef *= Number(part);
    else syms.push(part);
  }
  return { coef, syms: syms.sort() };
};

const show = (m: Monomial): Dim => {
  if (m.syms.length === 0) return m.coef;
  return [...(m.coef === 1 ? [] : [String(m.coef)]), ...m.syms].join('*');
};

/**
 * a·b, symbolic where needed; null when either is unknown.
 *
 * @example
 * mulDim('batch', 8) // '8*batch'
 */
export const mulDim = (a: Dim, b: Dim): Dim => {
  if (a === null || b === null) return null;
  const x = parse(a);
  const y = parse(b);
  return show({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms].sort() });
};

/** a/b when it divides exactly (symbols cancel, coefficients divide); null otherwise. */
export const divDim = (a: Dim, b: Dim): Dim => {
  if (a === null || b === null) return null;
  const x = parse(a);
  const y = parse(b);
  if (y.coef === 0 || x.coef % y.coef !== 0) return null;
  const syms = [...x.syms];
  for (const s of y.syms) {
    const k = syms.indexOf(s);
    if (k < 0) return null;
    syms.splice(k, 1);
  }
  return show({ coef: x.coef / y.coef, syms });
};

/** a+b for sizes; a symbolic sum is unknown (null). */
export const addDim = (a: Dim, b: Dim): Dim =>
  typeof a === 'number' && typeof b === 'number' ? a + b : a === 0 ? b : b === 0 ? a : null;

/** Product of dims. */
export const prodDims = (dims: readonly Dim[]): Dim => dims.reduce<Dim>((p, d) => mulDim(p, d), 1);

/** Whether two dims are known to be equal. */
export const sameDim = (a: Dim, b: Dim): boolean =>
  a !== null && b !== null && String(show(parse(a))) === String(show(parse(b)));

/**
 * The broadcast of two dims (numpy rules) when it can be told statically; null when it cannot.
 *
 * @example
 * broadcastDim(1, 'batch') // 'batch'
 */
export const broadcastDim = (a: Dim, b: Dim): Dim => {
  if (a === 1) return b;
  if (b === 1) return a;
  if (sameDim(a, b)) return a;
  // A size other than 1 wins over a dim that can only be that size or 1.
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return null;
};

/** Broadcast of several shapes, aligned on the right; undefined when a rank is unknown. */
export const broadcastShapes = (shapes: readonly (readonly Dim[] | undefined)[]): Dim[] | undefined => {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = new Array(rank).fill(1);
  for (const s of shapes)
    s!.forEach((d, i) => (out[rank - s!.length + i] = broadcastDim(out[rank - s!.length + i], d)));
  return out;
};
