/** Products: MatMul, Gemm, Einsum. */
import { f } from '../../onnx/builder.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { parseEinsum } from '../shape-rules-nn.ts';

/** Transpose of the last two axes. */
const swapLast = (c: VjpContext, v: string, r: number) =>
  c.emit('Transpose', [v], { perm: [...Array.from({ length: r - 2 }, (_, k) => k), r - 1, r - 2] });

/** `v` as a matrix [−1, last], where `last` is dim `axis` of `from` (a constant when static). */
const rows = (c: VjpContext, v: string, from: string, axis: number) => {
  const d = c.shape(from)?.[axis];
  const shape =
    typeof d === 'number' ? c.ints([-1, d]) : c.emit('Concat', [c.ints([-1]), c.dimOf(from, axis)], { axis: 0 });
  return c.emit('Reshape', [v, shape]);
};

// Y = A·B.  dA = dY·Bᵀ, dB = Aᵀ·dY (batch dims summed back by the driver; 1-D operands promoted as numpy does).
export const matmul: Rule = (c) => {
  const [a, b, g] = [c.x(0), c.x(1), c.gy(0)!];
  const [ra, rb] = [c.rank(a), c.rank(b)];
  if (ra === 1 && rb === 1)
    return [c.needs(0) ? c.emit('Mul', [g, b]) : undefined, c.needs(1) ? c.emit('Mul', [g, a]) : undefined];
  if (ra === 1) {
    // A [K]: dA = (dY[…,1,N]·Bᵀ) summed over batch, dB = A[K,1]·dY[…,1,N]
    const g2 = c.unsqueeze(g, [-2]);
    return [
      c.needs(0) ? c.emit('MatMul', [g2, swapLast(c, b, rb)]) : undefined,
      c.needs(1) ? c.emit('Mul', [c.unsqueeze(a, [-1]), g2]) : undefined,
    ];
  }
  if (rb === 1) {
    // B [K]: dA = dY[…,M,1]·B[K], dB = (Aᵀ·dY[…,M,1]) squeezed and summed over batch
    const g2 = c.unsqueeze(g, [-1]);
    return [
      c.needs(0) ? c.emit('Mul', [g2, b]) : undefined,
      c.needs(1) ? c.squeeze(c.emit('MatMul', [swapLast(c, a, ra), g2]), [-1]) : undefined,
    ];
  }
  if (rb === 2) {
    // A weight-like B [K,N]: Gemm on A's rows reads B transposed in place (no transposed copy of the weight,
    // which onnxruntime would otherwise constant-fold into a second copy) and forms dB as one [K,N] product.
    const g2 = ra === 2 ? g : rows(c, g, b, 1);
    const dA = c.needs(0) ? c.emit('Gemm', [g2, b], { transB: 1 }) : undefined;
    return [
      dA && ra > 2 ? c.emit('Reshape', [dA, c.reshapeTo(a)]) : dA,
      c.needs(1) ? c.emit('Gemm', [ra === 2 ? a : rows(c, a, b, 0), g2], { transA: 1 }) : undefined,
    ];
  }
  return [
    c.needs(0) ? c.emit('MatMul', [g, swapLast(c, b, rb)]) : undefined,
    c.needs(1) ? c.emit('MatMul', [swapLast(c, a, ra), g]) : undefined,
  ];
};

// Y = α·A'·B' + β·C with A' = transA ? Aᵀ : A.  dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY, dC = β·dY (un-broadcast by the driver);
// when the forward read an operand transposed, its gradient is the transpose: dA = α·B'·dYᵀ, dB = α·dYᵀ·A'.
export const gemm: Rule = (c) => {
  const [a, b, g] = [c.x(0), c.x(1), c.gy(0)!];
  const [alpha, beta] = [c.attr('alpha', 1), c.attr('beta', 1)];
  const [tA, tB] = [c.attr('transA', 0), c.attr('transB', 0)];
  const al = alpha === 1 ? {} : { alpha: f(alpha) };
  const dA = !c.needs(0)
    ? undefined
    : tA
      ? c.emit('Gemm', [b, g], { ...al, transA: tB, transB: 1 })
      : c.emit('Gemm', [g, b], { ...al, transB: tB ? 0 : 1 });
  const dB = !c.needs(1)
    ? undefined
    : tB
      ? c.emit('Gemm', [g, a], { ...al, transA: 1, transB: tA })
      : c.emit('Gemm', [a, g], { ...al, transA: tA ? 0 : 1 });
  const dC = !c.needs(2) ? undefined : beta === 1 ? g : c.emit('Mul', [g, c.scalar(beta, g)]);
  return [dA, dB, dC];
};

// Y = einsum(X₁…Xₙ).  dXₖ = einsum(X₁…X̸ₖ…Xₙ, dY → subscripts of Xₖ); indices summed only inside Xₖ are
// broadcast back with Unsqueeze + Expand.
export const einsum: Rule = (c) => {
  const { ins, out } = parseEinsum(c.attr('equation', ''), c.node.inputs.length);
  const ell = (s: string) => s.replace('.', '...');
  return ins.map((sub, k) => {
    if (!c.needs(k)) return undefined;
    const letters = sub.replace('.', '');
    if (new Set(letters).size !== letters.length)
      c.fail(`with a repeated index in operand ${k} ('${ell(sub)}', a diagonal)`);
    const others = ins.flatMap((_s, j) => (j === k ? [] : [j]));
    const avail = new Set([...out, ...others.flatMap((j) => [...ins[j]])]);
    const kept = [...sub].filter((ch) => avail.has(ch)).join('');
    if (kept !== sub && sub.includes('.'))
      c.fail(`with an index summed inside an operand that also has an ellipsis ('${ell(sub)}')`);
    const eq = `${[...others.map((j) => ins[j]), out].map(ell).join(',')}->${ell(kept)}`;
    const g = c.emit('Einsum', [...others.map((j) => c.x(j)), c.gy(0)!], { equation: eq });
    if (kept === sub) return g;
    const missing = [...sub].flatMap((ch, p) => (avail.has(ch) ? [] : [p]));
    return c.emit('Expand', [c.unsqueeze(g, missing), c.shapeOf(c.x(k))]);
  });
};
