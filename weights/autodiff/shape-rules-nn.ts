/**
 * Static inference for the network ops: MatMul, Gemm, Conv, ConvTranspose, Resize, normalisations, reductions,
 * Pad and Einsum.
 */
import type { Dim } from '../onnx/proto.ts';
import { DataType } from '../onnx/proto.ts';
import { attr } from '../onnx/builder.ts';
import { type Facts, type InferRule, numbersOf } from './shape-facts.ts';
import { axesOf } from './shape-rules.ts';
import { addDim, broadcastShapes, mulDim } from './symbolic-dim.ts';

const norm = (a: number, r: number) => (a < 0 ? a + r : a);
const same: InferRule = (_n, [x]) => [x && { elem: x.elem, shape: x.shape }];

/** Opset from which each reduction takes its axes as an input instead of an attribute. */
const axesInputFrom = (op: string) => (op === 'ReduceSum' ? 13 : 18);

const reduce: InferRule = (n, ins, opset) => {
  const [x] = ins;
  const keep = attr<number>(n, 'keepdims', 1) === 1;
  const axes = axesOf(n, ins, opset, axesInputFrom(n.opType));
  const elem = n.opType.startsWith('Arg') ? DataType.INT64 : (x?.elem ?? 0);
  if (!x?.shape || !axes) return [{ elem }];
  const r = x.shape.length;
  const all =
    axes.length === 0 && !(opset >= axesInputFrom(n.opType) && attr<number>(n, 'noop_with_empty_axes', 0) === 1);
  const ax = new Set(
    n.opType.startsWith('Arg')
      ? [norm(attr(n, 'axis', 0), r)]
      : all
        ? x.shape.map((_, k) => k)
        : axes.map((a) => norm(a, r)),
  );
  return [{ elem, shape: x.shape.flatMap((d, k) => (ax.has(k) ? (keep ? [1] : []) : [d])) }];
};

/** Spatial output size of a convolution. */
const convOut = (i: Dim, k: number, s: number, d: number, pb: number, pe: number): Dim =>
  typeof i === 'number' ? Math.floor((i + pb + pe - d * (k - 1) - 1) / s) + 1 : null;

const convLike: InferRule = (n, [x, w]) => {
  if (!x?.shape || !w?.shape) return [{ elem: x?.elem ?? 0 }];
  const sp = x.shape.length - 2;
  const k = attr<number[]>(n, 'kernel_shape', w.shape.slice(2) as number[]);
  const s = attr<number[]>(n, 'strides', new Array(sp).fill(1));
  const d = attr<number[]>(n, 'dilations', new Array(sp).fill(1));
  const p = attr<number[]>(n, 'pads', new Array(2 * sp).fill(0));
  const autoPad = attr<string>(n, 'auto_pad', 'NOTSET');
  const g = attr(n, 'group', 1);
  if (n.opType === 'Conv') {
    const spatial = x.shape
      .slice(2)
      .map((i, j) =>
        autoPad.startsWith('SAME')
          ? typeof i === 'number'
            ? Math.ceil(i / s[j])
            : null
          : autoPad === 'VALID'
            ? convOut(i, k[j], s[j], d[j], 0, 0)
            : convOut(i, k[j], s[j], d[j], p[j], p[j + sp]),
      );
    return [{ elem: x.elem, shape: [x.shape[0], w.shape[0], ...spatial] }];
  }
  const op = attr<number[]>(n, 'output_padding', new Array(sp).fill(0));
  const os = attr<number[] | undefined>(n, 'output_shape', undefined);
  const spatial =
    os ??
    x.shape
      .slice(2)
      .map((i, j) =>
        typeof i !== 'number'
          ? null
          : autoPad.startsWith('SAME')
            ? i * s[j]
            : s[j] * (i - 1) + op[j] + d[j] * (k[j] - 1) + 1 - (autoPad === 'VALID' ? 0 : p[j] + p[j + sp]),
      );
  return [{ elem: x.elem, shape: [x.shape[0], mulDim(w.shape[1], g), ...spatial] }];
};

/** Einsum subscripts, with an ellipsis written as '.'. */
export const parseEinsum = (eq: string, nIn: number): { ins: string[]; out: string } => {
  const [lhs, rhs] = eq
    .replace(/\s/g, '')
    .replace(/\.\.\./g, '.')
    .split('->');
  const ins = lhs.split(',');
  if (ins.length !== nIn) throw new Error(`einsum '${eq}' names ${ins.length} operands, the node has ${nIn}`);
  if (rhs !== undefined) return { ins, out: rhs };
  const counts = new Map<string, number>();
  for (const c of ins.join('')) if (c !== '.') counts.set(c, (counts.get(c) ?? 0) + 1);
  const once = [...counts]
    .filter(([, k]) => k === 1)
    .map(([c]) => c)
    .sort()
    .join('');
  return { ins, out: (ins.some((s) => s.includes('.')) ? '.' : '') + once };
};

/** Inference rules for network ops, keyed by op type. */
export const nnShapeRules: Record<string, InferRule> = {
  // RoiAlign: [rois, C, output_height, output_width] in X's type.
  RoiAlign: (n, [x, rois]) => [
    {
      elem: x?.elem ?? 0,
      shape: [rois?.shape?.[0] ?? null, x?.shape?.[1] ?? null, attr(n, 'output_height', 1), attr(n, 'output_width', 1)],
    },
  ],
  // GridSample (2-D): [N, C, grid's Ho, Wo] in X's type.
  GridSample: (_n, [x, grid]) => [
    x?.shape?.length === 4 && grid?.shape?.length === 4
      ? { elem: x.elem, shape: [x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]] }
      : { elem: x?.elem ?? 0 },
  ],
  LpNormalization: same,
  // Col2Im: [N, C·∏block / ∏block, …image_shape] in X's type.
  Col2Im: (_n, [x, img, block]) => {
    const [v, b, c] = [numbersOf(img), numbersOf(block), x?.shape?.[1]];
    const cs = typeof c === 'number' && b ? c / b.reduce((p, q) => p * q, 1) : null;
    return [{ elem: x?.elem ?? 0, shape: v && x?.shape ? [x.shape[0], cs, ...v] : undefined }];
  },
  // DFT: the axis keeps its length (⌊n/2⌋ + 1 bins one-sided), the last axis holds (re, im).
  DFT: (n, [x, len, ax], opset) => {
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }];
    const r = x.shape.length;
    const a0 = opset >= 20 ? (numbersOf(ax)?.[0] ?? -2) : attr(n, 'axis', 1);
    const a = norm(a0, r);
    const given = numbersOf(len)?.[0];
    const d = given ?? x.shape[a];
    const bins = attr<number>(n, 'onesided', 0) === 1 ? (typeof d === 'number' ? Math.floor(d / 2) + 1 : null) : d;
    return [{ elem: x.elem, shape: x.shape.map((v, k) => (k === a ? bins : k === r - 1 ? 2 : v)) }];
  },
  MatMul: (_n, [a, b]) => {
    if (!a?.shape || !b?.shape) return [{ elem: a?.elem ?? 0 }];
    const A = a.shape.length === 1 ? [1, ...a.shape] : a.shape;
    const B = b.shape.length === 1 ? [...b.shape, 1] : b.shape;
    const batch = broadcastShapes([A.slice(0, -2), B.slice(0, -2)])!;
    const shape = [
      ...batch,
      ...(a.shape.length === 1 ? [] : [A[A.length - 2]]),
      ...(b.shape.length === 1 ? [] : [B[B.length - 1]]),
    ];
    return [{ elem: a.elem, shape }];
  },
  Gemm: (n, [a, b]) => {
    const M = a?.shape?.[attr(n, 'transA', 0) ? 1 : 0] ?? null;
    const N = b?.shape?.[attr(n, 'transB', 0) ? 0 : 1] ?? null;
    return [{ elem: a?.elem ?? 0, shape: [M, N] }];
  },
  Conv: convLike,
  ConvTranspose: convLike,
  Resize: (_n, ins, opset) => {
    const [x] = ins;
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }];
    const scales = numbersOf(ins[opset >= 11 ? 2 : 1]);
    const sizes = opset >= 11 ? ins[3]?.value : undefined;
    if (sizes?.length === x.shape.length) return [{ elem: x.elem, shape: [...sizes] }];
    if (scales?.length === x.shape.length)
      return [
        {
          elem: x.elem,
          shape: x.shape.map((d, k) =>
            scales[k] === 1
              ? d
              : Number.isInteger(scales[k])
                ? mulDim(d, scales[k])
                : typeof d === 'number'
                  ? Math.floor(d * scales[k])
                  : null,
          ),
        },
      ];
    return [{ elem: x.elem, shape: x.shape.map(() => null) }];
  },
  Upsample: (n, [x, s]) => {
    const scales = numbersOf(s) ?? attr<number[] | undefined>(n, 'scales', undefined);
    return [
      {
        elem: x?.elem ?? 0,
        shape:
          x?.shape && scales
            ? x.shape.map((d, k) => (Number.isInteger(scales[k]) ? mulDim(d, scales[k]) : null))
            : undefined,
      },
    ];
  },
  InstanceNormalization: same,
  BatchNormalization: same,
  GroupNormalization: same,
  LayerNormalization: (n, [x]) => {
    if (!x?.shape) return [x && { elem: x.elem }];
    const axis = norm(attr(n, 'axis', -1), x.shape.length);
    const stats: Facts = { elem: DataType.FLOAT, shape: x.shape.map((d, k) => (k < axis ? d : 1)) };
    return [{ elem: x.elem, shape: x.shape }, stats, stats];
  },
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL2: reduce,
  ReduceL1: reduce,
  ReduceSumSquare: reduce,
  ReduceLogSumExp: reduce,
  ArgMax: reduce,
  ArgMin: reduce,
  Pad: (n, ins, opset) => {
    const [x] = ins;
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }];
    const r = x.shape.length;
    const pads = opset >= 11 ? numbersOf(ins[1]) : attr<number[] | undefined>(n, 'pads', undefined);
    const axes = opset >= 18 && n.inputs[3] ? numbersOf(ins[3]) : x.shape.map((_, k) => k);
    if (!pads || !axes) return [{ elem: x.elem, shape: x.shape.map(() => null) }];
    const shape = [...x.shape];
    axes.forEach((a, k) => {
      const ax = norm(a, r);
      shape[ax] = addDim(addDim(shape[ax], pads[k]), pads[k + axes.length]);
    });
    return [{ elem: x.elem, shape }];
  },
  Einsum: (n, ins) => {
    const { ins: subs, out } = parseEinsum(attr(n, 'equation', ''), ins.length);
    const dims = new Map<string, Dim>();
    let ell: Dim[] | undefined = [];
    subs.forEach((s, k) => {
      const shape = ins[k]?.shape;
      if (!shape) return void (ell = s.includes('.') ? undefined : ell);
      const e = shape.length - (s.length - (s.includes('.') ? 1 : 0));
      let j = 0;
      for (const c of s) {
        if (c === '.') {
          ell = ell && broadcastShapes([ell, shape.slice(j, j + e)]);
          j += e;
        } else {
          const d = shape[j++];
          if (!dims.has(c) || dims.get(c) === 1 || dims.get(c) === null) dims.set(c, d);
        }
      }
    });
    const shape = [...out].flatMap((c) => (c === '.' ? (ell ?? [null]) : [dims.get(c) ?? null]));
    return [{ elem: ins[0]?.elem ?? 0, shape: ell || !out.includes('.') ? shape : undefined }];
  },
  TopK: (n, [x, k]) => {
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }, { elem: DataType.INT64 }];
    const axis = norm(attr(n, 'axis', -1), x.shape.length);
    const shape = x.shape.map((d, j) => (j === axis ? (numbersOf(k)?.[0] ?? null) : d));
    return [
      { elem: x.elem, shape },
      { elem: DataType.INT64, shape },
    ];
  },
};
