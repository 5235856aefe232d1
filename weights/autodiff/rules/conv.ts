/** Convolutions and nearest upsampling: Conv, ConvTranspose, Resize / Upsample (nearest, integer scales). */
import type { Dim } from '../../onnx/proto.ts';
import type { Rule, VjpContext } from '../rule-context.ts';
import { divDim } from '../symbolic-dim.ts';
import { nearestByGrid } from './index-grid.ts';
import { resizeByMatrix } from './resize-matrix.ts';

export interface ConvGeometry {
  sp: number;
  k: number[];
  s: number[];
  d: number[];
  p: number[];
  group: number;
}

/** Kernel, strides, dilations and explicit pads of a Conv/ConvTranspose node (or a pooling node). */
export const geometry = (c: VjpContext, w: string): ConvGeometry => {
  const sp = c.rank(c.x(0)) - 2;
  const k = c.attr<number[]>('kernel_shape', (c.shape(w)?.slice(2) ?? []) as number[]);
  if (k.length !== sp || k.some((v) => typeof v !== 'number')) c.fail('without a static kernel shape');
  const s = c.attr<number[]>('strides', new Array(sp).fill(1));
  const d = c.attr<number[]>('dilations', new Array(sp).fill(1));
  let p = c.attr<number[]>('pads', new Array(2 * sp).fill(0));
  const autoPad = c.attr<string>('auto_pad', 'NOTSET');
  if (autoPad === 'VALID') p = new Array(2 * sp).fill(0);
  else if (autoPad !== 'NOTSET' && c.node.opType !== 'ConvTranspose') {
    // SAME_*: total pad = max(0, (ceil(in/s) − 1)·s + d(k−1) + 1 − in), the odd one at the end (UPPER) or start.
    const ins = c.shape(c.x(0))!.slice(2);
    if (ins.some((v) => typeof v !== 'number') || c.node.opType === 'ConvTranspose')
      c.fail(`with auto_pad ${autoPad} and dynamic spatial sizes`);
    const tot = (ins as number[]).map((i, j) =>
      Math.max(0, (Math.ceil(i / s[j]) - 1) * s[j] + d[j] * (k[j] - 1) + 1 - i),
    );
    const small = tot.map((t) => Math.floor(t / 2));
    p =
      autoPad === 'SAME_UPPER'
        ? [...small, ...tot.map((t, j) => t - small[j])]
        : [...tot.map((t, j) => t - small[j]), ...small];
  }
  return { sp, k, s, d, p, group: c.attr('group', 1) };
};

const biasGrad = (c: VjpContext, g: string, sp: number) =>
  c.castLike(c.reduceSum(c.f32(g), [0, ...Array.from({ length: sp }, (_, j) => j + 2)], false), g);

/**
 * Stride-1 input gradient as a plain Conv: dX = Conv(dY, W′) with W′ = W with in/out channels swapped (per group)
 * and the kernel flipped, pads d(k−1) − p. onnxruntime's CPU Conv (NCHWc kernels) is markedly faster than its
 * ConvTranspose; W′ is constant-folded once at session creation, or with 'flipped-conv-per-step' made per run
 * from W (no resident copy).
 */
const flippedConv = (c: VjpContext, g: string, w: string, geo: ConvGeometry): string | undefined => {
  const { sp, k, d, p, group } = geo;
  const ws = c.shape(w);
  if (!ws || ws.some((v) => typeof v !== 'number')) return undefined;
  const [m, cg] = ws as number[];
  const spatial = k.map((_, j) => j + 2);
  // Reverse the spatial axes (starting at −1 with step −1), then swap in/out channels per group; the two commute.
  let starts = c.ints(k.map(() => -1));
  if (c.options.convInputGrad === 'flipped-conv-per-step') {
    // starts − 0·dY[0]: the same value, known only once dY exists, so the flip is neither folded into a resident
    // copy nor scheduled before this conv's backward (onnxruntime does not simplify 0·x: NaN for infinite x).
    const g0 = c.emit('Slice', [c.emit('Reshape', [g, c.ints([-1])]), c.ints([0]), c.ints([1])]);
    starts = c.emit('Add', [starts, c.emit('Cast', [c.emit('Mul', [g0, c.scalar(0, g)])], { to: 7 })]);
  }
  const reversed = c.emit('Slice', [
    w,
    starts,
    c.ints(k.map(() => -(2 ** 62))),
    c.ints(spatial),
    c.ints(k.map(() => -1)),
  ]);
  const flipped =
    group === 1
      ? c.emit('Transpose', [reversed], { perm: [1, 0, ...spatial] })
      : c.emit('Reshape', [
          c.emit('Transpose', [c.emit('Reshape', [reversed, c.ints([group, m / group, cg, ...k])])], {
            perm: [0, 2, 1, ...spatial.map((j) => j + 1)],
          }),
          c.ints([cg * group, m / group, ...k]),
        ]);
  const pads = [...k.map((kk, j) => d[j] * (kk - 1) - p[j]), ...k.map((kk, j) => d[j] * (kk - 1) - p[j + sp])];
  return pads.some((v) => v < 0)
    ? undefined
    : c.emit('Conv', [g, flipped], { pads, dilations: d, group, kernel_shape: k });
};

/**
 * dW as one matrix product over patches (im2col in the graph), for group ≥ 1 and static kernel, channel and output
 * sizes. With Xᵀ = X as [C, N, H, W] zero-padded, each kernel offset o = (i, j…) is a strided Slice
 * Xᵀ[:, :, i·d + s·h′, …] of Y's spatial size; stacked they make P [C·K, N·H′W′] (K = ∏k). Then
 *   dW[m, c, o] = Σ_{n,h′,w′} dY[n, m, h′, w′] · P[c·K + o, (n, h′, w′)]  =  (dYᵀ · Pᵀ)[m, c·K + o]
 * with dYᵀ = dY as [M, N·H′W′]: one Gemm (a batched MatMul per group when group > 1). onnxruntime's Conv runs the
 * batch-as-channels form below as C small convolutions with an image-sized kernel and is several times slower.
 * The patches are transient: K times X's size, freed after the product.
 */
const patchWeightGrad = (
  c: VjpContext,
  x: string,
  w: string,
  g: string,
  geo: ConvGeometry,
  [xs, ys] = [c.shape(x), c.shape(c.y(0))],
): string | undefined => {
  const { sp, k, s, d, p, group } = geo;
  const ws = c.shape(w);
  const inC = xs?.[1];
  if (!ws || ws.some((v) => typeof v !== 'number') || typeof inC !== 'number') return undefined;
  const outSp = xs!.slice(2).map((v, j) => {
    const known = ys?.[j + 2];
    if (typeof known === 'number') return known;
    return typeof v === 'number' ? Math.floor((v + p[j] + p[j + sp] - d[j] * (k[j] - 1) - 1) / s[j]) + 1 : NaN;
  });
  if (outSp.some((v) => !Number.isFinite(v) || v < 1)) return undefined;
  const m = ws[0] as number;
  const kk = k.reduce((a, b) => a * b, 1);
  const spatial = k.map((_, j) => j + 2);
  const perm = [1, 0, ...spatial];
  let xt = c.emit('Transpose', [x], { perm });
  if (p.some((v) => v !== 0)) {
    const pads = c.ints([0, 0, ...p.slice(0, sp), 0, 0, ...p.slice(sp)]);
    xt =
      c.opset >= 11
        ? c.emit('Pad', [xt, pads])
        : c.emit('Pad', [xt], { pads: [0, 0, ...p.slice(0, sp), 0, 0, ...p.slice(sp)] });
  }
  // Kernel offsets in row-major order: the order of W's trailing axes.
  const offsets: number[][] = [[]];
  for (const size of k)
    offsets.splice(0, offsets.length, ...offsets.flatMap((o) => Array.from({ length: size }, (_, i) => [...o, i])));
  const slices = offsets.map((o) => {
    if (kk === 1 && s.every((v) => v === 1) && p.every((v) => v === 0)) return xt;
    const starts = o.map((i, j) => i * d[j]);
    const ends = starts.map((st, j) => st + s[j] * (outSp[j] - 1) + 1);
    // Slice-1 (before opset 10) takes attributes and has no steps.
    if (c.opset < 10 && s.some((v) => v !== 1)) c.requireOpset(10);
    const sl =
      c.opset < 10
        ? c.emit('Slice', [xt], { starts, ends, axes: spatial })
        : c.emit('Slice', [xt, c.ints(starts), c.ints(ends), c.ints(spatial), c.ints(s)]);
    return kk === 1 ? sl : c.unsqueeze(sl, [1]);
  });
  const stacked = kk === 1 ? slices[0] : c.emit('Concat', slices, { axis: 1 });
  const patches = c.emit('Reshape', [stacked, c.ints([inC * kk, -1])]);
  const gt = c.emit('Reshape', [c.emit('Transpose', [g], { perm }), c.ints([m, -1])]);
  if (group === 1) return c.emit('Reshape', [c.emit('Gemm', [gt, patches], { transB: 1 }), c.ints(ws as number[])]);
  // Per group: [G, M/G, P] · [G, P, C/G·K] → [G, M/G, C/G·K], which is W's layout.
  const pg = c.emit('Transpose', [c.emit('Reshape', [patches, c.ints([group, (inC / group) * kk, -1])])], {
    perm: [0, 2, 1],
  });
  return c.emit('Reshape', [
    c.emit('MatMul', [c.emit('Reshape', [gt, c.ints([group, m / group, -1])]), pg]),
    c.ints(ws as number[]),
  ]);
};

// dW[m,c,·] = Σₙ X[n,c,·] ⋆ dY[n,m,·]: Conv(Xᵀ, dYᵀ) with strides ↔ dilations swapped (batch as channels), sliced to k.
// Works with dynamic spatial sizes; group 1 only.
const transposedConvWeightGrad = (c: VjpContext, x: string, g: string, geo: ConvGeometry): string => {
  const { sp, k, s, d, p, group } = geo;
  if (group !== 1) c.fail('with respect to its weights when group > 1 and the sizes are dynamic');
  const perm = [1, 0, ...Array.from({ length: sp }, (_, j) => j + 2)];
  const full = c.emit('Conv', [c.emit('Transpose', [x], { perm }), c.emit('Transpose', [g], { perm })], {
    strides: d,
    dilations: s,
    pads: p,
  });
  const cut = c.emit('Slice', [full, c.ints(k.map(() => 0)), c.ints(k), c.ints(k.map((_, j) => j + 2))]);
  return c.emit('Transpose', [cut], { perm });
};

// Y = conv(X, W) + B.
// dX = ConvTranspose(dY, W) with the same strides/pads/dilations/group and output_padding = (in + pb + pe − d(k−1) − 1)
// mod s;
//      when spatial sizes are dynamic: output_padding = s − 1, then Slice back to X's size. Stride 1: see flippedConv.
// dW: see patchWeightGrad (static sizes) and transposedConvWeightGrad (dynamic).
// dB = Σ dY over batch and space.
export const conv: Rule = (c) => {
  const [x, w, g] = [c.x(0), c.x(1), c.gy(0)!];
  const geo = geometry(c, w);
  const { sp, k, s, d, p, group } = geo;
  const attrs = { strides: s, pads: p, dilations: d, group, kernel_shape: k };
  let dX: string | undefined;
  if (c.needs(0)) {
    const ins = c.shape(x)?.slice(2);
    const flip =
      c.options.convInputGrad !== 'conv-transpose' && s.every((v) => v === 1) ? flippedConv(c, g, w, geo) : undefined;
    if (flip) dX = flip;
    else if (ins?.every((v) => typeof v === 'number')) {
      const op = (ins as number[]).map((i, j) => (i + p[j] + p[j + sp] - d[j] * (k[j] - 1) - 1) % s[j]);
      dX = c.emit('ConvTranspose', [g, w], { ...attrs, output_padding: op });
    } else {
      const full = c.emit('ConvTranspose', [g, w], { ...attrs, output_padding: s.map((v) => v - 1) });
      const axes = Array.from({ length: sp }, (_, j) => j + 2);
      const ends = c.emit('Slice', [c.shapeOf(x), c.ints([2]), c.ints([2 + sp])]);
      dX = s.every((v) => v === 1) ? full : c.emit('Slice', [full, c.ints(axes.map(() => 0)), ends, c.ints(axes)]);
    }
  }
  let dW: string | undefined;
  if (c.needs(1))
    dW =
      (c.options.convWeightGrad !== 'conv' && patchWeightGrad(c, x, w, g, geo)) ||
      transposedConvWeightGrad(c, x, g, geo);
  return [dX, dW, c.needs(2) ? biasGrad(c, g, sp) : undefined];
};

// Y = convTranspose(X, W) + B, the adjoint of Conv with the same W:  dX = Conv(dY, W) with the same
// strides/pads/dilations/group (its output is exactly X's size), dB = Σ dY over batch and space, and dW the weight
// gradient of that Conv read the other way: ⟨dY, convT(X, W)⟩ = ⟨conv(dY, W), X⟩, so dW = patches of dY against X.
// With output_shape or auto_pad the pads follow from the static sizes: total = s(in − 1) + output_padding
// + d(k − 1) + 1 − out, halved (C-style) with the odd one at the start for SAME_LOWER, else at the end — as
// onnxruntime places it (the spec's text would put it at the start without auto_pad; the node test agrees with ORT).
export const convTranspose: Rule = (c) => {
  const [x, w, y, g] = [c.x(0), c.x(1), c.y(0), c.gy(0)!];
  const geo = geometry(c, w);
  const { sp, k, s, d, group } = geo;
  const autoPad = c.attr<string>('auto_pad', 'NOTSET');
  if (c.attr<number[] | undefined>('output_shape', undefined) || autoPad !== 'NOTSET') {
    const [ins, outs] = [c.shape(x)?.slice(2), c.shape(y)?.slice(2)];
    if (!ins?.every((v) => typeof v === 'number') || !outs?.every((v) => typeof v === 'number'))
      c.fail('with output_shape or auto_pad and dynamic spatial sizes');
    const op = c.attr<number[]>('output_padding', new Array(sp).fill(0));
    const tot = (ins as number[]).map((i, j) => s[j] * (i - 1) + op[j] + d[j] * (k[j] - 1) + 1 - (outs as number[])[j]);
    const half = tot.map((t) => Math.trunc(t / 2));
    geo.p =
      autoPad !== 'SAME_LOWER'
        ? [...half, ...tot.map((t, j) => t - half[j])]
        : [...tot.map((t, j) => t - half[j]), ...half];
  }
  // Negative pads (an output_shape past the full size) extend Y with cells no input reaches: crop them off dY.
  let gy = g;
  if (geo.p.some((v) => v < 0)) {
    const cut = (v: number) => Math.min(v, 0);
    gy = c.emit('Pad', [g, c.ints([0, 0, ...geo.p.slice(0, sp).map(cut), 0, 0, ...geo.p.slice(sp).map(cut)])]);
    geo.p = geo.p.map((v) => Math.max(v, 0));
  }
  const dX = c.needs(0)
    ? c.emit('Conv', [gy, w], { strides: s, pads: geo.p, dilations: d, group, kernel_shape: k })
    : undefined;
  const dW = c.needs(1)
    ? (patchWeightGrad(c, gy, w, x, geo, [c.shape(gy), c.shape(x)]) ??
      c.fail('with respect to its weights when channel or spatial sizes are dynamic'))
    : undefined;
  return [dX, dW, c.needs(2) ? biasGrad(c, g, sp) : undefined];
};

/** Integer upsampling factors of a nearest Resize/Upsample, from its scales or sizes; undefined when not static. */
const factors = (c: VjpContext, x: string, y: string): number[] | undefined => {
  const [xs, ys] = [c.shape(x), c.shape(y)];
  const scalesAt = c.node.opType === 'Upsample' || c.opset < 11 ? 1 : 2;
  const scales = c.values(c.x(scalesAt)) ?? c.attr<number[] | undefined>('scales', undefined);
  const ratio = (a: Dim, b: Dim) => {
    const r = divDim(a, b);
    return typeof r === 'number' ? r : NaN;
  };
  const fromShapes = xs && ys ? xs.map((d, j) => ratio(ys[j], d)) : undefined;
  const fs = scales?.length ? scales : fromShapes;
  return !fs || !c.shape(x) || fs.some((v) => !Number.isInteger(v) || v < 1) ? undefined : fs;
};

// Nearest upsampling by integer factors fᵢ repeats each element: Y viewed as [… Dᵢ, fᵢ …] sums back to
// dX = ReduceSum(Reshape(dY, [… Dᵢ, fᵢ …]), the fᵢ axes).
export const resize: Rule = (c) => {
  const [x, y, g] = [c.x(0), c.y(0), c.gy(0)!];
  const mode = c.attr<string>('mode', 'nearest');
  if (mode !== 'nearest') return resizeByMatrix(c);
  const fs = factors(c, x, y);
  if (!fs) return nearestByGrid(c);
  const ct = c.attr<string>('coordinate_transformation_mode', 'half_pixel');
  const nm = c.attr<string>('nearest_mode', 'round_prefer_floor');
  const floorLike =
    (ct === 'asymmetric' && (nm === 'floor' || (nm === 'round_prefer_floor' && fs.every((v) => v <= 2)))) ||
    ((ct === 'half_pixel' || ct === 'pytorch_half_pixel') && nm.startsWith('round'));
  // Other coordinate and rounding modes, downsampling and fractional scales: through the index grid.
  if (c.node.opType === 'Resize' && c.opset >= 11 && !floorLike) return nearestByGrid(c);
  const xs = c.shape(x)!;
  const pieces = xs.flatMap((d, j) => {
    const dim = typeof d === 'number' ? c.ints([d]) : c.dimOf(x, j);
    return fs[j] === 1 ? [dim] : [dim, c.ints([fs[j]])];
  });
  const target = pieces.every((v) => c.values(v))
    ? c.ints(pieces.flatMap((v) => c.values(v)!))
    : c.emit('Concat', pieces, { axis: 0 });
  const axes: number[] = [];
  fs.reduce((pos, v) => (v === 1 ? pos + 1 : (axes.push(pos + 1), pos + 2)), 0);
  return [c.reduceSum(c.emit('Reshape', [g, target]), axes, false)];
};
