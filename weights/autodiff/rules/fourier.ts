/** Fourier transforms: DFT, STFT. */
import type { Rule } from '../rule-context.ts';

// Y = DFT(X) along `axis` (forward: Yₖ = Σⱼ Xⱼ·e^(−2πi·jk/n); inverse: (1/n)·Σⱼ Xⱼ·e^(+2πi·jk/n)), complex values as
// (re, im) pairs in the last axis. Linear, and its adjoint under the real inner product of those pairs is the
// conjugate transpose: dX = n·IDFT(dY) for the forward transform, DFT(dY)/n for the inverse. A one-sided Y (the
// first ⌊n/2⌋ + 1 bins) is the full transform followed by a cut, so dY is padded with zero bins back to n; a real X
// (last axis 1) keeps the real part.
export const dft: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(0)!];
  if (c.x(1)) c.fail('with a dft_length input (the signal is cut or padded first)');
  const r = c.rank(x);
  const axisAttr = c.opset >= 20 ? c.values(c.x(2))?.[0] : c.attr('axis', 1);
  if (axisAttr === undefined) c.fail('with an axis known only at run time');
  const axis = axisAttr! < 0 ? axisAttr! + r : axisAttr!;
  const n = c.shape(x)?.[axis];
  if (typeof n !== 'number') c.fail('with a dynamic signal length');
  const inverse = c.attr('inverse', 0);
  let full = g;
  const bins = c.shape(g)?.[axis];
  if (c.attr('onesided', 0) === 1) {
    if (typeof bins !== 'number') c.fail('one-sided with a dynamic bin count');
    const pads = new Array(2 * r).fill(0);
    pads[r + axis] = (n as number) - (bins as number);
    full = c.emit('Pad', [g, c.ints(pads)]);
  }
  const other =
    c.opset >= 20
      ? c.emit('DFT', [full, '', c.ints([axis])], { inverse: 1 - inverse })
      : c.emit('DFT', [full], { axis, inverse: 1 - inverse });
  const scaled = c.emit('Mul', [other, c.scalar(inverse ? 1 / (n as number) : (n as number), g)]);
  const real = c.shape(x)?.[r - 1] === 1;
  return [real ? c.emit('Slice', [scaled, c.ints([0]), c.ints([1]), c.ints([r - 1])]) : scaled];
};

// STFT: frame f of the signal is S[f·step + j]·w[j] (j < n, the frame length), transformed like DFT (one-sided by
// default). So with dF = n·IDFT(dY) per frame (zero bins padded back to n; the real part for a real signal):
// dS = Σ over frames of dF⊙w scattered back to positions f·step + j (ScatterElements add), dw[j] = Σ dF⊙S[f·step + j].
// Steps, frame length and counts may all be known only at run time.
export const stft: Rule = (c) => {
  const [x, g, step0, win, flen] = [c.x(0), c.gy(0)!, c.x(1), c.x(2), c.x(3)];
  const xs = c.shape(x);
  const C = xs?.[2];
  if (xs?.length !== 3 || typeof C !== 'number') c.fail('with an unknown signal layout');
  c.requireOpset(17);
  const i64 = (v: string) => (c.elem(v) === 7 ? v : c.emit('Cast', [v], { to: 7 }));
  const vec = (v: string) => c.emit('Reshape', [i64(v), c.ints([1])]);
  const n = flen ? vec(flen) : win ? c.emit('Shape', [win]) : c.fail('without a window or frame_length');
  const step = vec(step0);
  let gp = g;
  if (c.attr('onesided', 1) === 1) {
    const bins = c.emit('Slice', [c.emit('Shape', [g]), c.ints([2]), c.ints([3])]);
    const z = c.ints([0]);
    gp = c.emit('Pad', [g, c.emit('Concat', [z, z, z, z, z, z, c.emit('Sub', [n, bins]), z], { axis: 0 })]);
  }
  const nf = c.emit('Cast', [n], { to: c.elem(g) });
  let dF = c.emit('Mul', [c.emit('DFT', [gp], { axis: 2, inverse: 1 }), nf]); // [B, F, n, 2]
  if (C === 1) dF = c.emit('Slice', [dF, c.ints([0]), c.ints([1]), c.ints([3])]);
  const range = (len: string) => c.emit('Range', [c.scalarOfType(0, 7), c.squeeze(len, [0]), c.scalarOfType(1, 7)]);
  const frames = c.emit('Slice', [c.emit('Shape', [g]), c.ints([1]), c.ints([2])]);
  const pos = c.emit('Add', [c.emit('Mul', [c.unsqueeze(range(frames), [1]), step]), c.unsqueeze(range(n), [0])]); // [F, n]
  const w = win ? c.emit('Reshape', [win, c.ints([1, 1, -1, 1])]) : undefined;
  const upd = c.emit('Reshape', [w ? c.emit('Mul', [dF, w]) : dF, c.ints([0, -1, C as number])]);
  const idx = c.emit('Expand', [c.emit('Reshape', [pos, c.ints([1, -1, 1])]), c.emit('Shape', [upd])]);
  const dS = c.needs(0)
    ? c.emit('ScatterElements', [c.zerosLike(x), idx, upd], { axis: 1, reduction: 'add' })
    : undefined;
  const dW =
    win && c.needs(2)
      ? c.reduceSum(c.emit('Mul', [dF, c.emit('Gather', [x, pos], { axis: 1 })]), [0, 1, 3], false)
      : undefined;
  return [dS, undefined, dW, undefined];
};
