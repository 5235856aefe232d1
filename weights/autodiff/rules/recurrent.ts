/** Recurrences: RNN (forward, tanh), by backpropagation through time unrolled over a static sequence length. */
import type { Rule } from '../rule-context.ts';

// Hₜ = tanh(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb), H₋₁ = initial_h (or 0); Y stacks the Hₜ, Y_h = H_last.
// Backwards in t: dHₜ = dYₜ (+ dY_h at the last step) + Gₜ₊₁·R and Gₜ = dHₜ ⊙ (1 − Hₜ²).
// Then dX = G·W, dW = Σₜ Gₜᵀ·Xₜ, dR = Σₜ Gₜᵀ·Hₜ₋₁, dB = [Σ G, Σ G], dinitial_h = G₀·R.
export const rnn: Rule = (c) => {
  if (c.attr('direction', 'forward') !== 'forward') c.fail(`in direction '${c.attr('direction', '')}' (not written)`);
  const acts = c.node.attributes.find((a) => a.name === 'activations')?.strings ?? [];
  if (acts.some((a) => new TextDecoder().decode(a) !== 'Tanh'))
    c.fail('with activations other than Tanh (not written)');
  if (c.attr<number | undefined>('clip', undefined) !== undefined)
    c.fail('with clip (the clipped cells pass no gradient; not written)');
  if (c.x(4)) c.fail('with sequence_lens (not written)');
  if (c.attr('layout', 0) !== 0) c.fail('in batch-major layout');
  const [x, w, r] = [c.x(0), c.x(1), c.x(2)];
  const T = c.shape(x)?.[0];
  if (typeof T !== 'number') c.fail('with a dynamic sequence length');
  const y = c.y(0) || c.emitCopyN(c.node.inputs, 1)[0]; // [T, 1, B, H]
  const slice = (v: string, from: number, to: number) =>
    c.opset >= 10
      ? c.emit('Slice', [v, c.ints([from]), c.ints([to]), c.ints([0])])
      : c.emit('Slice', [v], { starts: [from], ends: [to], axes: [0] });
  const H = c.squeeze(y, [1]); // [T, B, H]
  const [W, R] = [c.squeeze(w, [0]), c.squeeze(r, [0])]; // [H, I], [H, H]
  const step = (t: number) => c.squeeze(slice(H, t, t + 1), [0]);
  const dYt = (t: number) => (c.gy(0) ? c.squeeze(slice(c.gy(0)!, t, t + 1), [0, 1]) : undefined);
  const gs: string[] = [];
  let carry = c.gy(1) ? c.squeeze(c.gy(1)!, [0]) : undefined; // [B, H]
  for (let t = (T as number) - 1; t >= 0; t--) {
    const parts = [dYt(t), carry].filter((p): p is string => !!p);
    const dh = parts.length === 2 ? c.emit('Add', parts) : (parts[0] ?? c.zerosLike(step(t)));
    const ht = step(t);
    const gt = c.emit('Mul', [dh, c.emit('Sub', [c.scalar(1, ht), c.emit('Mul', [ht, ht])])]);
    gs.unshift(gt);
    carry = c.emit('MatMul', [gt, R]);
  }
  const G = c.emit(
    'Concat',
    gs.map((g) => c.unsqueeze(g, [0])),
    { axis: 0 },
  ); // [T, B, H]
  const h0 = c.x(5) ? c.squeeze(c.x(5), [0]) : c.zerosLike(step(0));
  const prev = c.emit('Concat', [c.unsqueeze(h0, [0]), slice(H, 0, (T as number) - 1)], { axis: 0 });
  const gSum = c.reduceSum(G, [0, 1], false);
  return [
    c.needs(0) ? c.emit('MatMul', [G, W]) : undefined,
    c.needs(1) ? c.unsqueeze(c.emit('Einsum', [G, x], { equation: 'tbh,tbi->hi' }), [0]) : undefined,
    c.needs(2) ? c.unsqueeze(c.emit('Einsum', [G, prev], { equation: 'tbh,tbk->hk' }), [0]) : undefined,
    c.needs(3) ? c.unsqueeze(c.emit('Concat', [gSum, gSum], { axis: 0 }), [0]) : undefined,
    undefined,
    c.needs(5) ? c.unsqueeze(carry!, [0]) : undefined,
  ];
};

// LSTM (forward, default activations, gates in ONNX's order i, o, f, c), the cell recomputed step by step:
//   iₜ = σ(·ᵢ + Pᵢ⊙Cₜ₋₁), fₜ = σ(·f + P_f⊙Cₜ₋₁), gₜ = tanh(·c), Cₜ = fₜ⊙Cₜ₋₁ + iₜ⊙gₜ, oₜ = σ(·ₒ + Pₒ⊙Cₜ),
//   Hₜ = oₜ⊙tanh Cₜ, with · = Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb per gate; past a sequence_lens entry a batch row keeps its state.
// Backwards: do = dH⊙tanh C⊙o(1 − o), dC = dC₊ + dH⊙o(1 − tanh²C) + do⊙Pₒ, di = dC⊙g⊙i(1 − i),
//   df = dC⊙Cₜ₋₁⊙f(1 − f), dg = dC⊙i⊙(1 − g²); G = [di, do, df, dg], dHₜ₋₁ = G·R, dCₜ₋₁ = dC⊙f + di⊙Pᵢ + df⊙P_f;
//   dX = G·W, dW = Σ Gᵀ·Xₜ, dR = Σ Gᵀ·Hₜ₋₁, dB = [Σ G, Σ G], dP = [Σ di⊙Cₜ₋₁, Σ do⊙Cₜ, Σ df⊙Cₜ₋₁].
export const lstm: Rule = (c) => {
  if (c.attr('direction', 'forward') !== 'forward') c.fail(`in direction '${c.attr('direction', '')}' (not written)`);
  if (c.node.attributes.some((a) => a.name === 'activations' || a.name === 'clip'))
    c.fail('with custom activations or clip (not written)');
  if (c.attr('input_forget', 0) !== 0 || c.attr('layout', 0) !== 0) c.fail('with input_forget or batch-major layout');
  const [x, w, r] = [c.x(0), c.x(1), c.x(2)];
  const T0 = c.shape(x)?.[0];
  const hs = c.attr('hidden_size', 0);
  if (typeof T0 !== 'number' || !hs) c.fail('with a dynamic sequence length');
  const T = T0 as number;
  const mul = (a: string, b: string) => c.emit('Mul', [a, b]);
  const add = (...v: (string | undefined)[]) => {
    const p = v.filter((s): s is string => !!s);
    return p.length === 1 ? p[0] : c.emit(p.length === 2 ? 'Add' : 'Sum', p);
  };
  const oneMinus = (v: string) => c.emit('Sub', [c.scalar(1, v), v]);
  const at0 = (v: string, from: number, to: number, axis = 0) =>
    c.emit('Slice', [v, c.ints([from]), c.ints([to]), c.ints([axis])]);
  const [W, R] = [c.squeeze(w, [0]), c.squeeze(r, [0])]; // [4H, I], [4H, H]
  const bias = c.x(3)
    ? (() => {
        const b = c.squeeze(c.x(3), [0]);
        return c.emit('Add', [at0(b, 0, 4 * hs), at0(b, 4 * hs, 8 * hs)]);
      })()
    : undefined;
  const P = c.x(7) ? c.squeeze(c.x(7), [0]) : undefined;
  const [Pi, Po, Pf] = P ? [0, 1, 2].map((k) => at0(P, k * hs, (k + 1) * hs)) : [];
  const xt = (t: number) => c.squeeze(at0(x, t, t + 1), [0]);
  let h = c.x(5)
    ? c.squeeze(c.x(5), [0])
    : c.emit('MatMul', [xt(0), c.emit('Transpose', [at0(W, 0, hs)], { perm: [1, 0] })]);
  if (!c.x(5)) h = mul(h, c.scalar(0, h)); // zeros [B, H] shaped from the input
  let cs = c.x(6) ? c.squeeze(c.x(6), [0]) : mul(h, c.scalar(0, h));
  const lens = c.x(4) ? c.emit('Cast', [c.x(4)], { to: 7 }) : undefined;
  const steps: Record<string, string | undefined>[] = [];
  const Wt = c.emit('Transpose', [W], { perm: [1, 0] });
  const Rt = c.emit('Transpose', [R], { perm: [1, 0] });
  for (let t = 0; t < T; t++) {
    const pre = add(c.emit('MatMul', [xt(t), Wt]), c.emit('MatMul', [h, Rt]), bias);
    const [pi, po, pf, pc] = c.emitN('Split', [pre, c.ints([hs, hs, hs, hs])], 4, { axis: 1 });
    const i = c.emit('Sigmoid', [add(pi, Pi && mul(Pi, cs))]);
    const f = c.emit('Sigmoid', [add(pf, Pf && mul(Pf, cs))]);
    const g = c.emit('Tanh', [pc]);
    const cNew = add(mul(f, cs), mul(i, g));
    const o = c.emit('Sigmoid', [add(po, Po && mul(Po, cNew))]);
    const tc = c.emit('Tanh', [cNew]);
    const v = lens && c.unsqueeze(c.emit('Cast', [c.emit('Less', [c.ints([t]), lens])], { to: c.elem(x) }), [1]);
    const hNew = mul(o, tc);
    steps.push({ x: xt(t), hPrev: h, cPrev: cs, i, f, g, o, cNew, tc, v });
    const keep = (nw: string, old: string) => (v ? add(mul(v, nw), mul(oneMinus(v), old)) : nw);
    [h, cs] = [keep(hNew, h), keep(cNew, cs)];
  }
  let dh = c.gy(1) ? c.squeeze(c.gy(1)!, [0]) : mul(h, c.scalar(0, h));
  let dc = c.gy(2) ? c.squeeze(c.gy(2)!, [0]) : mul(cs, c.scalar(0, cs));
  const acc: Record<string, string[]> = { x: [], w: [], r: [], b: [], pi: [], po: [], pf: [] };
  const sum0 = (v: string) => c.reduceSum(v, [0], false);
  for (let t = T - 1; t >= 0; t--) {
    const s = steps[t] as Record<string, string> & { v?: string };
    const dY = c.gy(0) ? c.squeeze(at0(c.gy(0)!, t, t + 1), [0, 1]) : undefined;
    const dhNew = s.v ? mul(s.v, add(dh, dY)) : add(dh, dY);
    const dcNew = s.v ? mul(s.v, dc) : dc;
    const dO = mul(mul(dhNew, s.tc), mul(s.o, oneMinus(s.o)));
    const dC = add(dcNew, mul(mul(dhNew, s.o), oneMinus(mul(s.tc, s.tc))), Po && mul(dO, Po));
    const dI = mul(mul(dC, s.g), mul(s.i, oneMinus(s.i)));
    const dF = mul(mul(dC, s.cPrev), mul(s.f, oneMinus(s.f)));
    const dG = mul(mul(dC, s.i), oneMinus(mul(s.g, s.g)));
    const G = c.emit('Concat', [dI, dO, dF, dG], { axis: 1 });
    acc.x.unshift(c.unsqueeze(c.emit('MatMul', [G, W]), [0]));
    acc.w.push(c.emit('MatMul', [c.emit('Transpose', [G], { perm: [1, 0] }), s.x]));
    acc.r.push(c.emit('MatMul', [c.emit('Transpose', [G], { perm: [1, 0] }), s.hPrev]));
    acc.b.push(sum0(G));
    if (P) {
      acc.pi.push(sum0(mul(dI, s.cPrev)));
      acc.po.push(sum0(mul(dO, s.cNew)));
      acc.pf.push(sum0(mul(dF, s.cPrev)));
    }
    dh = add(c.emit('MatMul', [G, R]), s.v && mul(oneMinus(s.v), dh));
    dc = add(mul(dC, s.f), Pi && mul(dI, Pi), Pf && mul(dF, Pf), s.v && mul(oneMinus(s.v), dc));
  }
  const total = (v: string[]) => add(...v);
  const db = total(acc.b);
  return [
    c.needs(0) ? (acc.x.length === 1 ? acc.x[0] : c.emit('Concat', acc.x, { axis: 0 })) : undefined,
    c.needs(1) ? c.unsqueeze(total(acc.w), [0]) : undefined,
    c.needs(2) ? c.unsqueeze(total(acc.r), [0]) : undefined,
    c.needs(3) ? c.unsqueeze(c.emit('Concat', [db, db], { axis: 0 }), [0]) : undefined,
    undefined,
    c.needs(5) ? c.unsqueeze(dh, [0]) : undefined,
    c.needs(6) ? c.unsqueeze(dc, [0]) : undefined,
    c.needs(7) && P
      ? c.unsqueeze(c.emit('Concat', [total(acc.pi), total(acc.po), total(acc.pf)], { axis: 0 }), [0])
      : undefined,
  ];
};

// GRU (forward, default activations, gates z, r, h): zₜ = σ(·z), rₜ = σ(·r), h̃ₜ = tanh(Xₜ·W_hᵀ + (rₜ⊙Hₜ₋₁)·R_hᵀ + b_h)
// (with linear_before_reset: Xₜ·W_hᵀ + rₜ⊙(Hₜ₋₁·R_hᵀ + Rb_h) + Wb_h), Hₜ = (1 − zₜ)⊙h̃ₜ + zₜ⊙Hₜ₋₁. Backwards:
//   dz = dH⊙(Hₜ₋₁ − h̃)⊙z(1 − z), dh = dH⊙(1 − z)⊙(1 − h̃²), and through the reset: q = r⊙Hₜ₋₁ (dq = dh·R_h,
//   dr = dq⊙Hₜ₋₁⊙r(1 − r)) or q = Hₜ₋₁·R_hᵀ + Rb_h (dq = dh⊙r, dr = dh⊙q⊙r(1 − r));
//   dHₜ₋₁ = dH⊙z + [dz, dr]·[R_z; R_r] + (dq⊙r or dq·R_h).
export const gru: Rule = (c) => {
  if (c.attr('direction', 'forward') !== 'forward') c.fail(`in direction '${c.attr('direction', '')}' (not written)`);
  if (c.node.attributes.some((a) => a.name === 'activations' || a.name === 'clip'))
    c.fail('with custom activations or clip (not written)');
  if (c.attr('layout', 0) !== 0 || c.x(4)) c.fail('in batch-major layout or with sequence_lens (not written)');
  const [x, w, r] = [c.x(0), c.x(1), c.x(2)];
  const T0 = c.shape(x)?.[0];
  const hs = c.attr('hidden_size', 0);
  if (typeof T0 !== 'number' || !hs) c.fail('with a dynamic sequence length');
  const T = T0 as number;
  const lbr = c.attr('linear_before_reset', 0) === 1;
  const mul = (a: string, b: string) => c.emit('Mul', [a, b]);
  const add = (...v: (string | undefined)[]) => {
    const p = v.filter((s): s is string => !!s);
    return p.length === 1 ? p[0] : c.emit(p.length === 2 ? 'Add' : 'Sum', p);
  };
  const oneMinus = (v: string) => c.emit('Sub', [c.scalar(1, v), v]);
  const cut = (v: string, from: number, to: number) => c.emit('Slice', [v, c.ints([from]), c.ints([to]), c.ints([0])]);
  const tr = (v: string) => c.emit('Transpose', [v], { perm: [1, 0] });
  const [W, R] = [c.squeeze(w, [0]), c.squeeze(r, [0])]; // [3H, I], [3H, H]
  const [Rzr, Rh] = [cut(R, 0, 2 * hs), cut(R, 2 * hs, 3 * hs)];
  const b = c.x(3) ? c.squeeze(c.x(3), [0]) : undefined;
  const [wb, rb] = b ? [cut(b, 0, 3 * hs), cut(b, 3 * hs, 6 * hs)] : [];
  const xt = (t: number) => c.squeeze(cut(x, t, t + 1), [0]);
  let h = c.x(5) ? c.squeeze(c.x(5), [0]) : undefined;
  if (!h) h = mul(c.emit('MatMul', [xt(0), tr(cut(W, 0, hs))]), c.scalar(0, x)); // zeros [B, H]
  const steps: Record<string, string>[] = [];
  for (let t = 0; t < T; t++) {
    const xw = add(c.emit('MatMul', [xt(t), tr(W)]), wb);
    const [xz, xr, xh] = c.emitN('Split', [xw, c.ints([hs, hs, hs])], 3, { axis: 1 });
    const hr = add(c.emit('MatMul', [h, tr(Rzr)]), rb && cut(rb, 0, 2 * hs));
    const [hz, hrr] = c.emitN('Split', [hr, c.ints([hs, hs])], 2, { axis: 1 });
    const [z, rr] = [c.emit('Sigmoid', [add(xz, hz)]), c.emit('Sigmoid', [add(xr, hrr)])];
    const q = lbr ? add(c.emit('MatMul', [h, tr(Rh)]), rb && cut(rb, 2 * hs, 3 * hs)) : mul(rr, h);
    const ht = c.emit('Tanh', [
      lbr ? add(xh, mul(rr, q)) : add(xh, c.emit('MatMul', [q, tr(Rh)]), rb && cut(rb, 2 * hs, 3 * hs)),
    ]);
    steps.push({ x: xt(t), hPrev: h, z, r: rr, q, ht });
    h = add(mul(oneMinus(z), ht), mul(z, h));
  }
  let dH = c.gy(1) ? c.squeeze(c.gy(1)!, [0]) : mul(h, c.scalar(0, h));
  const acc: Record<string, string[]> = { x: [], w: [], r: [], wb: [], rb: [] };
  const sum0 = (v: string) => c.reduceSum(v, [0], false);
  for (let t = T - 1; t >= 0; t--) {
    const s = steps[t];
    const dY = c.gy(0) ? c.squeeze(cut(c.gy(0)!, t, t + 1), [0, 1]) : undefined;
    const d = add(dH, dY);
    const dz = mul(mul(d, c.emit('Sub', [s.hPrev, s.ht])), mul(s.z, oneMinus(s.z)));
    const dh = mul(mul(d, oneMinus(s.z)), oneMinus(mul(s.ht, s.ht)));
    const dq = lbr ? mul(dh, s.r) : c.emit('MatMul', [dh, Rh]);
    const dr = mul(lbr ? mul(dh, s.q) : mul(dq, s.hPrev), mul(s.r, oneMinus(s.r)));
    const G = c.emit('Concat', [dz, dr, dh], { axis: 1 });
    const Gzr = c.emit('Concat', [dz, dr], { axis: 1 });
    acc.x.unshift(c.unsqueeze(c.emit('MatMul', [G, W]), [0]));
    acc.w.push(c.emit('MatMul', [tr(G), s.x]));
    acc.r.push(
      c.emit(
        'Concat',
        [c.emit('MatMul', [tr(Gzr), s.hPrev]), c.emit('MatMul', [tr(lbr ? dq : dh), lbr ? s.hPrev : s.q])],
        { axis: 0 },
      ),
    );
    acc.wb.push(sum0(G));
    acc.rb.push(sum0(c.emit('Concat', [dz, dr, lbr ? dq : dh], { axis: 1 })));
    dH = add(mul(d, s.z), c.emit('MatMul', [Gzr, Rzr]), lbr ? c.emit('MatMul', [dq, Rh]) : mul(dq, s.r));
  }
  return [
    c.needs(0) ? (acc.x.length === 1 ? acc.x[0] : c.emit('Concat', acc.x, { axis: 0 })) : undefined,
    c.needs(1) ? c.unsqueeze(add(...acc.w), [0]) : undefined,
    c.needs(2) ? c.unsqueeze(add(...acc.r), [0]) : undefined,
    c.needs(3) ? c.unsqueeze(c.emit('Concat', [add(...acc.wb), add(...acc.rb)], { axis: 0 }), [0]) : undefined,
    undefined,
    c.needs(5) ? c.unsqueeze(dH, [0]) : undefined,
  ];
};
