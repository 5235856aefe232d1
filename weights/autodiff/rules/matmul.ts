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
// broadcast back with Unsqueeze + Expand. A repeated index (a diagonal, 'ii') reads only where the two positions
// agree: the gradient for the subscripts without the repeat, Unsqueezed at the second position and multiplied by
// the identity over the pair, δᵢⱼ.
export const einsum: Rule = (c) => {
  const { ins, out } = parseEinsum(c.attr('equation', ''), c.node.inputs.length);
  const ell = (s: string) => s.replace('.', '...');
  return ins.map((sub0, k) => {
    if (!c.needs(k)) return undefined;
    const letters = sub0.replace('.', '');
    const repeats = [...letters].filter((ch, i) => letters.indexOf(ch) !== i);
    if (repeats.length > 1) c.fail(`with more than one repeated index in operand ${k} ('${ell(sub0)}')`);
    const q = repeats.length ? sub0.lastIndexOf(repeats[0]) : -1;
    const sub = q < 0 ? sub0 : sub0.slice(0, q) + sub0.slice(q + 1);
    const others = ins.flatMap((_s, j) => (j === k ? [] : [j]));
    const avail = new Set([...out, ...others.flatMap((j) => [...ins[j]])]);
    const kept = [...sub].filter((ch) => avail.has(ch)).join('');
    if (kept !== sub && sub.includes('.'))
      c.fail(`with an index summed inside an operand that also has an ellipsis ('${ell(sub0)}')`);
    const eq = `${[...others.map((j) => ins[j]), out].map(ell).join(',')}->${ell(kept)}`;
    let g = c.emit('Einsum', [...others.map((j) => c.x(j)), c.gy(0)!], { equation: eq });
    const missing = [...sub].flatMap((ch, p) => (avail.has(ch) ? [] : [p]));
    if (q < 0 && kept !== sub) return c.expandTo(c.unsqueeze(g, missing), c.x(k));
    if (q >= 0) {
      if (kept !== sub) {
        // Broadcast over the summed indices to X's shape without the repeat's second axis.
        const r0 = c.rank(c.x(k));
        const axes = Array.from({ length: r0 }, (_, a) => a).filter((a) => a !== q);
        g = c.emit('Expand', [c.unsqueeze(g, missing), c.emit('Gather', [c.shapeOf(c.x(k)), c.ints(axes)])]);
      }
      // Positions counted from the end, so an ellipsis before them does not matter.
      const r = c.rank(c.x(k));
      const [pe, qe] = [sub0.indexOf(repeats[0]) - sub0.length, q - sub0.length];
      const n = c.shape(c.x(k))?.[r + pe];
      if (typeof n !== 'number') c.fail(`with a repeated index of dynamic size ('${ell(sub0)}')`);
      const dims = new Array(r).fill(1);
      dims[r + pe] = dims[r + qe] = n;
      const delta = c.emit('Reshape', [
        c.emit('EyeLike', [c.zerosOf([n as number, n as number], c.elem(g))]),
        c.ints(dims),
      ]);
      return c.emit('Mul', [c.unsqueeze(g, [qe]), delta]);
    }
    return g;
  });
};

// Y = det X (over the last two axes).  dX = dY·cof X with the cofactors Cᵢⱼ = (−1)^(i+j)·det(X without row i and
// column j) — det X·X⁻ᵀ where X is invertible, and right for singular X too; n² determinants of minors (n static).
export const det: Rule = (c) => {
  const x = c.x(0);
  const r = c.rank(x);
  const n = c.shape(x)?.[r - 1];
  if (typeof n !== 'number') c.fail('with a dynamic matrix size');
  const gy = c.unsqueeze(c.gy(0)!, [r - 2, r - 1]);
  if (n === 1) return [c.expandTo(gy, x)];
  const others = (i: number) => Array.from({ length: n as number }, (_, k) => k).filter((k) => k !== i);
  const entries: string[] = [];
  for (let i = 0; i < (n as number); i++) {
    const rows = c.emit('Gather', [x, c.ints(others(i))], { axis: r - 2 });
    for (let j = 0; j < (n as number); j++) {
      const minor = c.emit('Det', [c.emit('Gather', [rows, c.ints(others(j))], { axis: r - 1 })]);
      entries.push(c.unsqueeze((i + j) % 2 ? c.emit('Neg', [minor]) : minor, [r - 2]));
    }
  }
  const cof = c.emit('Reshape', [c.emit('Concat', entries, { axis: r - 2 }), c.shapeOf(x)]);
  return [c.emit('Mul', [cof, gy])];
};
