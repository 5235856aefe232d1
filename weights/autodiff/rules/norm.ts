/**
 * Normalisations: InstanceNormalization, LayerNormalization, GroupNormalization, BatchNormalization (inference).
 * Statistics are recomputed from X (cheaper in memory than keeping them from the forward), in float32 for
 * float16 models.
 */
import type { Rule, VjpContext } from '../rule-context.ts';

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/**
 * x̂ = (X − mean)·rstd over `axes`, and dX = rstd·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) for a cotangent gx̂ of x̂.
 * `x` and `gxh` are float32 here.
 */
const standardize = (c: VjpContext, x: string, axes: number[], eps: number) => {
  const mean = c.reduceMean(x, axes, true);
  const xc = c.emit('Sub', [x, mean]);
  const v = c.reduceMean(c.emit('Mul', [xc, xc]), axes, true);
  const rstd = c.emit('Reciprocal', [c.emit('Sqrt', [c.emit('Add', [v, c.scalar(eps, x)])])]);
  const xh = c.emit('Mul', [xc, rstd]);
  const back = (gxh: string) => {
    const m1 = c.reduceMean(gxh, axes, true);
    const m2 = c.reduceMean(c.emit('Mul', [gxh, xh]), axes, true);
    return c.emit('Mul', [rstd, c.emit('Sub', [c.emit('Sub', [gxh, m1]), c.emit('Mul', [xh, m2])])]);
  };
  return { xh, back };
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
export const layerNorm: Rule = (c) => {
  if (c.gy(1) || c.gy(2)) c.fail('through its Mean / InvStdDev outputs');
  const [x, gamma, g] = [c.x(0), c.x(1), c.gy(0)!];
  const r = c.rank(x);
  const a0 = c.attr('axis', -1);
  const a = a0 < 0 ? a0 + r : a0;
  const [x32, g32] = [c.f32(x), c.f32(g)];
  const { xh, back } = standardize(c, x32, range(a, r), c.attr('epsilon', 1e-5));
  return [
    c.needs(0) ? c.castLike(back(c.emit('Mul', [g32, c.f32(gamma)])), x) : undefined,
    c.needs(1) ? sumTo(c, c.emit('Mul', [g32, xh]), range(0, a), gamma) : undefined,
    c.needs(2) ? sumTo(c, g32, range(0, a), c.x(2)) : undefined,
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

// Inference BatchNormalization: Y = (X − μ)·γ/√(σ² + ε) + β with running μ, σ².
// dX = dY·γ/√(σ² + ε),  dγ = Σ dY·(X − μ)/√(σ² + ε),  dβ = Σ dY  (over batch and space).
export const batchNorm: Rule = (c) => {
  if (c.attr('training_mode', 0) === 1) c.fail('in training mode');
  if (c.needs(3) || c.needs(4)) c.fail('with respect to its running mean / variance');
  const [x, gamma, mean, v, g] = [c.x(0), c.x(1), c.x(3), c.x(4), c.gy(0)!];
  const r = c.rank(x);
  const bc = (t: string) => c.unsqueeze(t, range(1, r - 1));
  const rstd = c.emit('Reciprocal', [c.emit('Sqrt', [c.emit('Add', [v, c.scalar(c.attr('epsilon', 1e-5), v)])])]);
  const outer = [0, ...range(2, r)];
  const xh = () => c.emit('Mul', [c.emit('Sub', [x, bc(mean)]), bc(rstd)]);
  return [
    c.needs(0) ? c.emit('Mul', [g, bc(c.emit('Mul', [gamma, rstd]))]) : undefined,
    c.needs(1) ? sumTo(c, c.f32(c.emit('Mul', [g, xh()])), outer, gamma) : undefined,
    c.needs(2) ? sumTo(c, c.f32(g), outer, c.x(2)) : undefined,
  ];
};
