/**
 * Normalisations: InstanceNormalization, LayerNormalization, GroupNormalization, BatchNormalization (inference).
 * Statistics are recomputed from X (cheaper in memory than keeping them from the forward), in float32 for
 * float16 models.
 */
import type { Rule, VjpContext } from '../rule-context.ts';

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/**
 * x̂ = (X − mean)·rstd over `axes`, and dX = rstd·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) for a cotangent gx̂ of x̂.
 * `x` and `gxh` are float32 here. `stats`: the forward's own mean and rstd, when it has them.
 */
const standardize = (c: VjpContext, x: string, axes: number[], eps: number, stats?: [string, string]) => {
  const mean = stats?.[0] ?? c.reduceMean(x, axes, true);
  const xc = c.emit('Sub', [x, mean]);
  const rstd =
    stats?.[1] ??
    c.emit('Reciprocal', [
      c.emit('Sqrt', [c.emit('Add', [c.reduceMean(c.emit('Mul', [xc, xc]), axes, true), c.scalar(eps, x)])]),
    ]);
  const xh = c.emit('Mul', [xc, rstd]);
  const back = (gxh: string) => {
    const m1 = c.reduceMean(gxh, axes, true);
    const m2 = c.reduceMean(c.emit('Mul', [gxh, xh]), axes, true);
    return c.emit('Mul', [rstd, c.emit('Sub', [c.emit('Sub', [gxh, m1]), c.emit('Mul', [xh, m2])])]);
  };
  return { xh, rstd, back };
};

/** Σ over `axes` in float32, cast back to `like`'s type. */
const sumTo = (c: VjpContext, v: string, axes: number[], like: string) => c.castLike(c.reduceSum(v, axes, false), like);

// Y = x̂·γ[c] + β[c], statistics over the spatial axes of each (n, c).
// dX = rstd·(gx̂ − mean gx̂ − x̂·mean(gx̂·x̂)) with gx̂ = dY·γ;  dγ = Σ dY·x̂,  dβ = Σ dY  (over n and space).
export const instanceNorm: Rule = (c) => {
  const [x, gamma, g] = [c.x(0), c.x(1), c.gy(0)!];
  const r = c.rank(x);
  const [x32, g32] = [c.f32(x), c.f32(g)];
  const { xh, back } = standardize(c, x32, range(2, r), c.attr('epsilon', 1e-5));
  const gb = c.unsqueeze(c.f32(gamma), range(1, r - 1));
  const outer = [0, ...range(2, r)];
  return [
    c.needs(0) ? c.castLike(back(c.emit('Mul', [g32, gb])), x) : undefined,
    c.needs(1) ? sumTo(c, c.emit('Mul', [g32, xh]), outer, gamma) : undefined,
    c.needs(2) ? sumTo(c, g32, outer, c.x(2)) : undefined,
  ];
};

// Y = x̂·γ + β, statistics over axes [axis, rank).  Same dX; dγ = Σ dY·x̂, dβ = Σ dY over the leading axes.
// The Mean (μ) and InvStdDev (s = 1/√(σ² + ε)) outputs add dX += (dμ − ds·s²·x̂)/n, n the normalised count
// (∂μ/∂X = 1/n, ∂s/∂X = −s³(X − μ)/n).
// μ and s come from the forward node itself (its optional outputs, which the rule names when absent: the kernel
// computes them anyway), so the backward makes no second pass over X for them — 6 nodes and 2 reductions fewer.
export const layerNorm: Rule = (c) => {
  const [x, gamma] = [c.x(0), c.x(1)];
  const r = c.rank(x);
  const a0 = c.attr('axis', -1);
  const a = a0 < 0 ? a0 + r : a0;
  const x32 = c.f32(x);
  const g32 = c.gy(0) ? c.f32(c.gy(0)!) : undefined;
  // Statistics in X's float32 type (stash_type 1, the default) only: another stash type would need casts.
  const stats =
    c.attr('stash_type', 1) === 1 && c.elem(x32) === 1 ? (c.forwardOutputs(3).slice(1) as [string, string]) : undefined;
  const { xh, rstd, back } = standardize(c, x32, range(a, r), c.attr('epsilon', 1e-5), stats);
  let dX = g32 && back(c.emit('Mul', [g32, c.f32(gamma)]));
  const [gm, gs] = [c.gy(1), c.gy(2)];
  if (gm || gs) {
    const [m32, s32] = [gm && c.castLike(gm, x32), gs && c.castLike(gs, x32)];
    const ds = s32 && c.emit('Mul', [c.emit('Mul', [s32, c.emit('Mul', [rstd, rstd])]), xh]);
    const sum = m32 && ds ? c.emit('Sub', [m32, ds]) : (m32 ?? c.emit('Neg', [ds!]));
    const n = c.emit('Div', [
      c.emit('Cast', [c.emit('Size', [x])], { to: c.elem(x32) }),
      c.emit('Cast', [c.emit('Size', [rstd])], { to: c.elem(x32) }),
    ]);
    const extra = c.emit('Div', [c.expandTo(sum, x32), n]);
    dX = dX ? c.emit('Add', [dX, extra]) : extra;
  }
  return [
    c.needs(0) && dX ? c.castLike(dX, x) : undefined,
    c.needs(1) && g32 ? sumTo(c, c.emit('Mul', [g32, xh]), range(0, a), gamma) : undefined,
    c.needs(2) && g32 ? sumTo(c, g32, range(0, a), c.x(2)) : undefined,
  ];
};

// Y = x̂·γ + β with statistics over each group of channels (X viewed as [N, G, −1]); γ, β are per group at
// opsets 18–20 and per channel from 21.  dX as above in the grouped view; dγ = Σ dY·x̂, dβ = Σ dY.
export const groupNorm: Rule = (c) => {
  const [x, gamma, beta, g] = [c.x(0), c.x(1), c.x(2), c.gy(0)!];
  const r = c.rank(x);
  const G = c.attr('num_groups', 1);
  const grouped = (v: string) => c.emit('Reshape', [v, c.ints([0, G, -1])]);
  const [x32, g32] = [c.f32(x), c.f32(g)];
  const { xh, back } = standardize(c, grouped(x32), [2], c.attr('epsilon', 1e-5));
  const perChannel = c.opset >= 21;
  const gg = perChannel ? undefined : grouped(g32);
  const gxh = perChannel
    ? grouped(c.emit('Mul', [g32, c.unsqueeze(c.f32(gamma), range(1, r - 1))]))
    : c.emit('Mul', [gg!, c.emit('Reshape', [c.f32(gamma), c.ints([G, 1])])]);
  const outer = [0, ...range(2, r)];
  return [
    c.needs(0) ? c.castLike(c.emit('Reshape', [back(gxh), c.reshapeTo(x)]), x) : undefined,
    !c.needs(1)
      ? undefined
      : perChannel
        ? sumTo(c, c.emit('Mul', [g32, c.emit('Reshape', [xh, c.reshapeTo(x)])]), outer, gamma)
        : sumTo(c, c.emit('Mul', [gg!, xh]), [0, 2], gamma),
    !c.needs(2) ? undefined : perChannel ? sumTo(c, g32, outer, beta) : sumTo(c, gg!, [0, 2], beta),
  ];
};

// Inference BatchNormalization: Y = (X − μ)·γ·s + β with running μ, σ² and s = 1/√(σ² + ε) (over batch and space):
// dX = dY·γ·s,  dγ = Σ dY·x̂,  dβ = Σ dY,  dμ = −γ·s·Σ dY,  dσ² = −½·γ·s²·Σ dY·x̂.
export const batchNorm: Rule = (c) => {
  if (c.attr('training_mode', 0) === 1) return batchNormTraining(c);
  const [x, gamma, mean, v, g] = [c.x(0), c.x(1), c.x(3), c.x(4), c.gy(0)!];
  const r = c.rank(x);
  const bc = (t: string) => c.unsqueeze(t, range(1, r - 1));
  const rstd = c.emit('Reciprocal', [c.emit('Sqrt', [c.emit('Add', [v, c.scalar(c.attr('epsilon', 1e-5), v)])])]);
  const outer = [0, ...range(2, r)];
  const xh = () => c.emit('Mul', [c.emit('Sub', [x, bc(mean)]), bc(rstd)]);
  const sumG = () => sumTo(c, c.f32(g), outer, c.x(2));
  const gs = () => c.emit('Mul', [gamma, rstd]);
  return [
    c.needs(0) ? c.emit('Mul', [g, bc(gs())]) : undefined,
    c.needs(1) ? sumTo(c, c.f32(c.emit('Mul', [g, xh()])), outer, gamma) : undefined,
    c.needs(2) ? sumG() : undefined,
    c.needs(3) ? c.emit('Neg', [c.emit('Mul', [gs(), sumG()])]) : undefined,
    c.needs(4)
      ? c.emit('Mul', [
          c.emit('Mul', [gs(), c.emit('Mul', [rstd, c.scalar(-0.5, v)])]),
          sumTo(c, c.f32(c.emit('Mul', [g, xh()])), outer, v),
        ])
      : undefined,
  ];
};

// Training BatchNormalization: Y from the batch statistics μ_B, σ²_B (population variance over batch and space), and
// running outputs R_μ = m·μ + (1 − m)·μ_B, R_σ² = m·σ² + (1 − m)·σ²_B (m the momentum). dX = the standardisation's
// VJP of dY·γ, plus (1 − m)·(dR_μ + 2·dR_σ²·(X − μ_B))/n;  dγ = Σ dY·x̂, dβ = Σ dY, dμ = m·dR_μ, dσ² = m·dR_σ².
const batchNormTraining: Rule = (c) => {
  const [x, gamma] = [c.x(0), c.x(1)];
  const r = c.rank(x);
  const outer = [0, ...range(2, r)];
  const bc = (t: string) => c.unsqueeze(t, range(1, r - 1));
  const mom = c.attr('momentum', 0.9);
  const x32 = c.f32(x);
  const { xh, back } = standardize(c, x32, outer, c.attr('epsilon', 1e-5));
  const g = c.gy(0) && c.f32(c.gy(0)!);
  const [gm, gv] = [c.gy(1), c.gy(2)];
  let dX = g && back(c.emit('Mul', [g, bc(c.f32(gamma))]));
  if (gm || gv) {
    const mu = c.reduceMean(x32, outer, true);
    const parts = [
      gm && bc(c.f32(gm)),
      gv && c.emit('Mul', [bc(c.f32(gv)), c.emit('Mul', [c.emit('Sub', [x32, mu]), c.scalar(2, x32)])]),
    ].filter((p): p is string => !!p);
    const sum = parts.length === 2 ? c.emit('Add', parts) : parts[0];
    const n = c.emit('Div', [
      c.emit('Cast', [c.emit('Size', [x])], { to: c.elem(x32) }),
      c.emit('Cast', [c.emit('Size', [gamma])], { to: c.elem(x32) }),
    ]);
    const extra = c.emit('Div', [c.emit('Mul', [c.expandTo(sum, x32), c.scalar(1 - mom, x32)]), n]);
    dX = dX ? c.emit('Add', [dX, extra]) : extra;
  }
  const scaled = (v: string | undefined) => v && c.emit('Mul', [v, c.scalar(mom, v)]);
  return [
    c.needs(0) && dX ? c.castLike(dX, x) : undefined,
    c.needs(1) && g ? sumTo(c, c.emit('Mul', [g, xh]), outer, gamma) : undefined,
    c.needs(2) && g ? sumTo(c, g, outer, c.x(2)) : undefined,
    c.needs(3) ? scaled(gm) : undefined,
    c.needs(4) ? scaled(gv) : undefined,
  ];
};

// MeanVarianceNormalization: Y = (X − μ)/(σ + ε) over `axes` (σ the population deviation, ε = 1e-9 as the
// function body has it).  With u = σ + ε and X_c = X − μ:  dX = (dY − mean dY)/u − X_c·mean(dY·X_c)/(u²·σ)
export const meanVarianceNormalization: Rule = (c) => {
  const [x, g] = [c.f32(c.x(0)), c.f32(c.gy(0)!)];
  const axes = c.attr<number[]>('axes', [0, 2, 3]);
  const mean = (v: string) => c.reduceMean(v, axes, true);
  const xc = c.emit('Sub', [x, mean(x)]);
  const sigma = c.emit('Sqrt', [mean(c.emit('Mul', [xc, xc]))]);
  const u = c.emit('Add', [sigma, c.scalar(1e-9, x)]);
  const first = c.emit('Div', [c.emit('Sub', [g, mean(g)]), u]);
  const second = c.emit('Div', [
    c.emit('Mul', [xc, mean(c.emit('Mul', [g, xc]))]),
    c.emit('Mul', [c.emit('Mul', [u, u]), sigma]),
  ]);
  return [c.castLike(c.emit('Sub', [first, second]), c.x(0))];
};

/** Σ of `v` over the channel window [c − before, c + after] (zeros past the edges), as `size` shifted slices. */
const channelWindowSum = (c: VjpContext, v: string, before: number, after: number): string => {
  const r = c.rank(v);
  const C = c.shape(v)?.[1];
  if (typeof C !== 'number') c.fail('with a dynamic channel count');
  const pads = new Array(2 * r).fill(0);
  [pads[1], pads[r + 1]] = [before, after];
  const padded = c.opset >= 11 ? c.emit('Pad', [v, c.ints(pads)]) : c.emit('Pad', [v], { pads });
  const parts = Array.from({ length: before + after + 1 }, (_, k) =>
    c.opset >= 10
      ? c.emit('Slice', [padded, c.ints([k]), c.ints([k + (C as number)]), c.ints([1])])
      : c.emit('Slice', [padded], { starts: [k], ends: [k + (C as number)], axes: [1] }),
  );
  return parts.length === 1 ? parts[0] : c.emit('Sum', parts);
};

// LRN: Y = X·d^(−β), d = bias + α/size·Σ_window X² over channels [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉].
// dX = dY·d^(−β) − (2αβ/size)·X·Σ_mirrored-window (dY·X·d^(−β−1)), the window mirrored because i is in c's window
// exactly when c is in i's mirrored one.
export const lrn: Rule = (c) => {
  const [x, g] = [c.x(0), c.gy(0)!];
  const size = c.attr('size', 1);
  const [alpha, beta, bias] = [c.attr('alpha', 1e-4), c.attr('beta', 0.75), c.attr('bias', 1)];
  const [lo, hi] = [Math.floor((size - 1) / 2), Math.ceil((size - 1) / 2)];
  const d = c.emit('Add', [
    c.scalar(bias, x),
    c.emit('Mul', [channelWindowSum(c, c.emit('Mul', [x, x]), lo, hi), c.scalar(alpha / size, x)]),
  ]);
  const dPow = (p: number) => c.emit('Pow', [d, c.scalar(p, x)]);
  const inner = c.emit('Mul', [c.emit('Mul', [g, x]), dPow(-beta - 1)]);
  const back = c.emit('Mul', [
    c.emit('Mul', [x, channelWindowSum(c, inner, hi, lo)]),
    c.scalar((2 * alpha * beta) / size, x),
  ]);
  return [c.emit('Sub', [c.emit('Mul', [g, dPow(-beta)]), back])];
};
