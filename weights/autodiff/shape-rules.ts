/**
 * Static inference for elementwise, shape-manipulating and constant-making ops: the ops torch puts in shape
 * chains, plus the ones rules emit. Values are tracked for small tensors so that chains fold.
 */
import type { Dim, Node, TensorProto } from '../onnx/proto.ts';
import { DataType } from '../onnx/proto.ts';
import { attr } from '../onnx/builder.ts';
import { readTensorProto } from '../onnx/tensor-proto.ts';
import { type Facts, type InferRule, numbersOf } from './shape-facts.ts';
import { addDim, broadcastShapes, divDim, mulDim, prodDims, sameDim } from './symbolic-dim.ts';

const isInt = (e: number) =>
  e === DataType.INT64 || e === DataType.INT32 || e === DataType.INT8 || e === DataType.UINT8;
const norm = (a: number, r: number) => (a < 0 ? a + r : a);

/** Elementwise arithmetic on tracked values (scalars and vectors, one side may be a single element). */
const zip = (a: Dim[] | undefined, b: Dim[] | undefined, fn: (x: Dim, y: Dim) => Dim): Dim[] | undefined => {
  if (!a || !b) return undefined;
  if (a.length === b.length) return a.map((x, i) => fn(x, b[i]));
  if (a.length === 1) return b.map((y) => fn(a[0], y));
  if (b.length === 1) return a.map((x) => fn(x, b[0]));
  return undefined;
};
const num =
  (fn: (x: number, y: number) => number) =>
  (x: Dim, y: Dim): Dim =>
    typeof x === 'number' && typeof y === 'number' ? fn(x, y) : null;

const arith =
  (fn: (x: Dim, y: Dim, int: boolean) => Dim): InferRule =>
  (_n, [a, b]) => {
    const elem = a?.elem || b?.elem || 0;
    const small = (a?.shape?.length ?? 2) <= 1 && (b?.shape?.length ?? 2) <= 1;
    return [
      {
        elem,
        shape: broadcastShapes([a?.shape, b?.shape]),
        value: small ? zip(a?.value, b?.value, (x, y) => fn(x, y, isInt(elem))) : undefined,
      },
    ];
  };

/** Where on tracked values. */
const pick = (c?: Dim[], a?: Dim[], b?: Dim[]): Dim[] | undefined => {
  if (!c || !a || !b) return undefined;
  const len = Math.max(c.length, a.length, b.length);
  if ([c, a, b].some((v) => v.length !== len && v.length !== 1)) return undefined;
  const at = (v: Dim[], i: number) => v[v.length === 1 ? 0 : i];
  return Array.from({ length: len }, (_, i) => (at(c, i) ? at(a, i) : at(b, i)));
};

const same: InferRule = (_n, [x]) => [x && { elem: x.elem, shape: x.shape }];
const sameWithValue: InferRule = (_n, [x]) => [x && { ...x }];
const bool = (shape?: Dim[]): Facts => ({ elem: DataType.BOOL, shape });
const compare: InferRule = (n, ins) => {
  const ops: Record<string, (x: number, y: number) => boolean> = {
    Equal: (x, y) => x === y,
    Less: (x, y) => x < y,
    Greater: (x, y) => x > y,
  };
  const op = ops[n.opType];
  const value = op
    ? zip(
        ins[0]?.value,
        ins[1]?.value,
        num((x, y) => Number(op(x, y))),
      )
    : undefined;
  return [{ ...bool(broadcastShapes(ins.map((f) => f?.shape))), value }];
};
const variadic: InferRule = (_n, ins) => [
  { elem: ins.find((f) => f?.elem)?.elem ?? 0, shape: broadcastShapes(ins.map((f) => f?.shape)) },
];

/** Constant tensors: dims, element type and (small) values of a TensorProto. */
export const tensorFacts = (t: TensorProto): Facts => {
  const n = t.dims.reduce((a, b) => a * b, 1);
  let value: Dim[] | undefined;
  if (n <= 64 && t.dataType !== DataType.FLOAT16 && !t.external) {
    try {
      value = Array.from(readTensorProto(t).data as ArrayLike<number | bigint>, Number);
    } catch {
      value = undefined;
    }
  }
  return { elem: t.dataType, shape: [...t.dims], value };
};

/** Axes of Squeeze/Unsqueeze/Reduce*: an attribute before `inputFrom`, the second input from then on. */
export const axesOf = (n: Node, ins: (Facts | undefined)[], opset: number, inputFrom: number): number[] | undefined =>
  opset >= inputFrom ? (n.inputs[1] ? numbersOf(ins[1]) : []) : attr<number[] | undefined>(n, 'axes', []);

const sliceLen = (dim: Dim, start: number, end: Dim, step: number): Dim => {
  // x[:t] with a symbolic t (torch's `position_ids[:, :seq]`): taken to be t, i.e. t ≤ dim, as the ops downstream
  // that combine it with t-sized tensors require anyway.
  if (typeof end !== 'number') return step === 1 && start === 0 && end !== null ? end : null;
  if (typeof dim !== 'number') return step === 1 && start === 0 && end >= 2 ** 31 - 1 ? dim : null;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const s = step > 0 ? clamp(norm(start, dim), 0, dim) : clamp(norm(start, dim), -1, dim - 1);
  const e = step > 0 ? clamp(norm(end, dim), 0, dim) : clamp(end < -dim ? -1 : norm(end, dim), -1, dim - 1);
  return Math.max(0, Math.ceil((e - s) / step));
};

/** Inference rules for elementwise, shape and constant ops, keyed by op type. */
export const shapeRules: Record<string, InferRule> = {
  Add: arith((x, y) => (typeof x === 'number' && typeof y === 'number' ? x + y : addDim(x, y))),
  Sub: arith((x, y) =>
    typeof x === 'number' && typeof y === 'number' ? x - y : sameDim(x, y) ? 0 : y === 0 ? x : null,
  ),
  Mul: arith((x, y) => mulDim(x, y)),
  Div: arith((x, y, int) =>
    typeof x === 'number' && typeof y === 'number' ? (int ? Math.trunc(x / y) : x / y) : divDim(x, y),
  ),
  Pow: (_n, [a, b]) => [{ elem: a?.elem ?? 0, shape: broadcastShapes([a?.shape, b?.shape]) }],
  Mod: arith(num((x, y) => x - Math.floor(x / y) * y)),
  Max: variadic,
  Min: variadic,
  Sum: variadic,
  Mean: variadic,
  PRelu: variadic,
  Equal: compare,
  Less: compare,
  Greater: compare,
  LessOrEqual: compare,
  GreaterOrEqual: compare,
  And: compare,
  Or: compare,
  Xor: compare,
  Not: (_n, [x]) => [bool(x?.shape)],
  IsNaN: (_n, [x]) => [bool(x?.shape)],
  IsInf: (_n, [x]) => [bool(x?.shape)],
  Where: (_n, [c, a, b]) => [
    {
      elem: a?.elem || b?.elem || 0,
      shape: broadcastShapes([c?.shape, a?.shape, b?.shape]),
      value: pick(c?.value, a?.value, b?.value),
    },
  ],
  Identity: sameWithValue,
  Neg: (_n, [x]) => [x && { ...x, value: x.value?.map((v) => (typeof v === 'number' ? -v : null)) }],
  Abs: same,
  Sqrt: same,
  Exp: same,
  Log: same,
  Reciprocal: same,
  Erf: same,
  Sigmoid: same,
  Tanh: same,
  Relu: same,
  // X's shape, in the zero point's integer type (uint8 without one).
  QuantizeLinear: (_n, [x, , zp]) => [x && { elem: zp?.elem || DataType.UINT8, shape: x.shape }],
  // X's shape, in the scale's float type.
  DequantizeLinear: (_n, [x, scale]) => [x && { elem: scale?.elem || DataType.FLOAT, shape: x.shape }],
  LeakyRelu: same,
  Elu: same,
  Gelu: same,
  Softplus: same,
  HardSigmoid: same,
  Sin: same,
  Cos: same,
  Tan: same,
  Asin: same,
  Acos: same,
  Atan: same,
  Sinh: same,
  Cosh: same,
  Asinh: same,
  Acosh: same,
  Atanh: same,
  Selu: same,
  Celu: same,
  HardSwish: same,
  Mish: same,
  Softsign: same,
  Shrink: same,
  ThresholdedRelu: same,
  Floor: same,
  Ceil: same,
  Round: same,
  Sign: same,
  Clip: same,
  Softmax: same,
  LogSoftmax: same,
  Trilu: same,
  CumSum: same,
  Dropout: (_n, [x]) => [x && { elem: x.elem, shape: x.shape }, bool(x?.shape)],
  Cast: (n, [x]) => [{ elem: attr(n, 'to', 0), shape: x?.shape, value: x?.value }],
  CastLike: (_n, [x, like]) => [{ elem: like?.elem ?? 0, shape: x?.shape, value: x?.value }],
  Shape: (n, [x], opset) => {
    if (!x?.shape) return [{ elem: DataType.INT64, shape: [null] }];
    const r = x.shape.length;
    const start = opset >= 15 ? Math.min(Math.max(norm(attr(n, 'start', 0), r), 0), r) : 0;
    const end = opset >= 15 ? Math.min(Math.max(norm(attr(n, 'end', r), r), 0), r) : r;
    const value = x.shape.slice(start, end);
    return [{ elem: DataType.INT64, shape: [value.length], value }];
  },
  Size: (_n, [x]) => [{ elem: DataType.INT64, shape: [], value: x?.shape ? [prodDims(x.shape)] : undefined }],
  Constant: (n) => {
    const t = attr<TensorProto | undefined>(n, 'value', undefined);
    if (t) return [tensorFacts(t)];
    const fl = attr<number | undefined>(n, 'value_float', undefined);
    if (fl !== undefined) return [{ elem: DataType.FLOAT, shape: [], value: [fl] }];
    const fls = attr<number[] | undefined>(n, 'value_floats', undefined);
    if (fls) return [{ elem: DataType.FLOAT, shape: [fls.length], value: fls }];
    const i = attr<number | undefined>(n, 'value_int', undefined);
    if (i !== undefined) return [{ elem: DataType.INT64, shape: [], value: [i] }];
    const is = attr<number[] | undefined>(n, 'value_ints', undefined);
    return [is ? { elem: DataType.INT64, shape: [is.length], value: is } : undefined];
  },
  ConstantOfShape: (n, [s]) => {
    const t = attr<TensorProto | undefined>(n, 'value', undefined);
    const v = t ? tensorFacts(t) : { elem: DataType.FLOAT, value: [0] };
    const shape = s?.value ?? (typeof s?.shape?.[0] === 'number' ? new Array(s.shape[0]).fill(null) : undefined);
    const size = shape && prodDims(shape);
    return [
      {
        elem: v.elem,
        shape,
        value: typeof size === 'number' && v.value ? new Array(size).fill(v.value[0]) : undefined,
      },
    ];
  },
  Range: (_n, [a, b, d]) => {
    const [s, l, st] = [numbersOf(a)?.[0], numbersOf(b)?.[0], numbersOf(d)?.[0]];
    const len = s !== undefined && l !== undefined && st ? Math.max(0, Math.ceil((l - s) / st)) : null;
    return [
      {
        elem: a?.elem ?? 0,
        shape: [len],
        value: len !== null && len <= 64 ? Array.from({ length: len }, (_, i) => s! + i * st!) : undefined,
      },
    ];
  },
  Gather: (n, [x, i]) => {
    if (!x?.shape || !i?.shape) return [{ elem: x?.elem ?? 0 }];
    const axis = norm(attr(n, 'axis', 0), x.shape.length);
    const shape = [...x.shape.slice(0, axis), ...i.shape, ...x.shape.slice(axis + 1)];
    const idx = numbersOf(i);
    const value =
      x.shape.length === 1 && x.value && idx ? idx.map((k) => x.value![norm(k, x.value!.length)] ?? null) : undefined;
    return [{ elem: x.elem, shape, value }];
  },
  GatherElements: (_n, [x, i]) => [{ elem: x?.elem ?? 0, shape: i?.shape }],
  // GatherND: indices[..., k] pick k-deep slices after `batch_dims` shared leading axes:
  // out = indices.shape[:-1] ++ data.shape[batch_dims + k:].
  GatherND: (n, [x, i]) => {
    const k = i?.shape?.[i.shape.length - 1];
    if (!x?.shape || !i?.shape || typeof k !== 'number') return [{ elem: x?.elem ?? 0 }];
    return [{ elem: x.elem, shape: [...i.shape.slice(0, -1), ...x.shape.slice(attr(n, 'batch_dims', 0) + k)] }];
  },
  ScatterND: same,
  ScatterElements: same,
  Scatter: same,
  LRN: same,
  MeanVarianceNormalization: same,
  Unsqueeze: (n, ins, opset) => {
    const [x] = ins;
    const axes = axesOf(n, ins, opset, 13);
    if (!x?.shape || !axes) return [{ elem: x?.elem ?? 0, value: x?.value }];
    const r = x.shape.length + axes.length;
    const ax = new Set(axes.map((a) => norm(a, r)));
    const rest = [...x.shape];
    return [
      { elem: x.elem, shape: Array.from({ length: r }, (_, k) => (ax.has(k) ? 1 : rest.shift()!)), value: x.value },
    ];
  },
  Squeeze: (n, ins, opset) => {
    const [x] = ins;
    const axes = axesOf(n, ins, opset, 13);
    if (!x?.shape || !axes) return [{ elem: x?.elem ?? 0, value: x?.value }];
    if (axes.length === 0 && x.shape.some((d) => typeof d !== 'number')) return [{ elem: x.elem, value: x.value }];
    const ax = new Set(
      axes.length ? axes.map((a) => norm(a, x.shape!.length)) : x.shape.flatMap((d, k) => (d === 1 ? [k] : [])),
    );
    return [{ elem: x.elem, shape: x.shape.filter((_, k) => !ax.has(k)), value: x.value }];
  },
  Concat: (n, ins) => {
    const elem = ins.find((f) => f?.elem)?.elem ?? 0;
    const first = ins.find((f) => f?.shape)?.shape;
    const value = ins.every((f) => f?.value && f.shape?.length === 1) ? ins.flatMap((f) => f!.value!) : undefined;
    if (!first || ins.some((f) => !f?.shape)) return [{ elem, shape: first?.map(() => null), value }];
    const axis = norm(attr(n, 'axis', 0), first.length);
    const shape = first.map((d, k) =>
      k === axis
        ? ins.reduce<Dim>((s, f) => addDim(s, f!.shape![k]), 0)
        : ((ins.find((f) => typeof f!.shape![k] === 'number')?.shape ?? [])[k] ?? d),
    );
    return [{ elem, shape, value }];
  },
  Reshape: (n, [x, s]) => {
    const target =
      s?.value ?? (typeof s?.shape?.[0] === 'number' ? (new Array(s.shape[0]).fill(null) as Dim[]) : undefined);
    if (!target) return [{ elem: x?.elem ?? 0 }];
    const allowZero = attr<number>(n, 'allowzero', 0) === 1;
    const shape = target.map((d, k) => (d === 0 && !allowZero ? (x?.shape?.[k] ?? null) : d === -1 ? null : d));
    const minus = target.indexOf(-1);
    if (minus >= 0 && x?.shape) shape[minus] = divDim(prodDims(x.shape), prodDims(shape.filter((_, k) => k !== minus)));
    return [{ elem: x?.elem ?? 0, shape, value: x?.value }];
  },
  Flatten: (n, [x]) => {
    if (!x?.shape) return [{ elem: x?.elem ?? 0, shape: [null, null] }];
    const axis = norm(attr(n, 'axis', 1), x.shape.length);
    return [{ elem: x.elem, shape: [prodDims(x.shape.slice(0, axis)), prodDims(x.shape.slice(axis))] }];
  },
  Transpose: (n, [x]) => {
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }];
    const perm = attr<number[]>(
      n,
      'perm',
      x.shape.map((_, k) => x.shape!.length - 1 - k),
    );
    return [{ elem: x.elem, shape: perm.map((p) => x.shape![p]) }];
  },
  Slice: (n, ins, opset) => {
    const [x] = ins;
    if (!x?.shape) return [{ elem: x?.elem ?? 0 }];
    const r = x.shape.length;
    const get = (k: number, name: string) =>
      opset >= 10 ? (n.inputs[k] ? numbersOf(ins[k]) : undefined) : attr<number[] | undefined>(n, name, undefined);
    const starts = get(1, 'starts');
    const ends =
      opset >= 10 ? (n.inputs[2] ? ins[2]?.value : undefined) : attr<number[] | undefined>(n, 'ends', undefined);
    const axes = get(3, 'axes') ?? starts?.map((_, k) => k);
    const steps = get(4, 'steps') ?? starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) {
      const known = opset >= 10 && n.inputs[3] ? numbersOf(ins[3]) : undefined;
      return [
        { elem: x.elem, shape: x.shape.map((d, k) => (known && !known.some((a) => norm(a, r) === k) ? d : null)) },
      ];
    }
    const shape = [...x.shape];
    let value = x.value && r === 1 ? [...x.value] : undefined;
    axes.forEach((a, k) => {
      const ax = norm(a, r);
      shape[ax] = sliceLen(x.shape![ax], starts[k], ends[k], steps[k]);
      const len = value?.length ?? 0;
      const clamp = (v: number) => Math.min(Math.max(norm(v, len), 0), len);
      const e = ends[k];
      value = value && steps[k] === 1 && typeof e === 'number' ? value.slice(clamp(starts[k]), clamp(e)) : undefined;
    });
    return [{ elem: x.elem, shape, value }];
  },
  Split: (n, ins, opset) => {
    const [x] = ins;
    const k = n.outputs.length;
    if (!x?.shape) return n.outputs.map(() => ({ elem: x?.elem ?? 0 }));
    const axis = norm(attr(n, 'axis', 0), x.shape.length);
    const dim = x.shape[axis];
    const given = opset >= 13 ? n.inputs[1] : attr<number[] | undefined>(n, 'split', undefined);
    // Sizes given but known only at run time: the split dim stays unknown (not the equal parts).
    if (given && opset >= 13 && !numbersOf(ins[1]))
      return n.outputs.map(() => ({ elem: x.elem, shape: x.shape!.map((d, j) => (j === axis ? null : d)) }));
    const sizes =
      (opset >= 13
        ? n.inputs[1]
          ? numbersOf(ins[1])
          : undefined
        : attr<number[] | undefined>(n, 'split', undefined)) ??
      (typeof dim === 'number'
        ? Array.from({ length: k }, (_, i) => (i < k - 1 ? Math.ceil(dim / k) : dim - Math.ceil(dim / k) * (k - 1)))
        : undefined);
    const each = sizes ? undefined : divDim(dim, k);
    return n.outputs.map((_, i) => ({
      elem: x.elem,
      shape: x.shape!.map((d, j) => (j === axis ? (sizes ? sizes[i] : each) : d)),
    }));
  },
  Expand: (_n, [x, s]) => [{ elem: x?.elem ?? 0, shape: s?.value ? broadcastShapes([x?.shape, s.value]) : undefined }],
  Tile: (_n, [x, r]) => [
    { elem: x?.elem ?? 0, shape: x?.shape && r?.value ? x.shape.map((d, k) => mulDim(d, r.value![k])) : undefined },
  ],
  NonZero: (_n, [x]) => [{ elem: DataType.INT64, shape: [x?.shape?.length ?? null, null] }],
};
