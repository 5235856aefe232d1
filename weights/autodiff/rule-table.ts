/**
 * The gradient registry, keyed by ONNX op type (default domain), with ORT's three states: a VJP rule; 'zero'
 * (no gradient flows through the op: shapes, comparisons, index makers, piecewise-constant maps); or
 * 'unsupported' (known, and deliberately not handled yet). An op missing from the table is an error too; both
 * errors name the op, the node and the gradient path that needs it.
 */
import type { Rule } from './rule-context.ts';
import * as act from './rules/activation.ts';
import * as conv from './rules/conv.ts';
import * as ew from './rules/elementwise.ts';
import * as fourier from './rules/fourier.ts';
import { gridSample } from './rules/grid-sample.ts';
import * as index from './rules/index.ts';
import { movedByGrid } from './rules/index-grid.ts';
import { ifRule } from './rules/if.ts';
import * as loss from './rules/loss.ts';
import * as loop from './rules/loop.ts';
import * as mm from './rules/matmul.ts';
import * as norm from './rules/norm.ts';
import * as pool from './rules/pool.ts';
import * as pw from './rules/piecewise.ts';
import * as red from './rules/reduce.ts';
import { col2im } from './rules/col2im.ts';
import { lpNormalization } from './rules/lp-normalization.ts';
import { roiAlign } from './rules/roi-align.ts';
import * as recurrent from './rules/recurrent.ts';
import * as shape from './rules/shape.ts';
import * as trig from './rules/trig.ts';

/** A rule, no gradient at all ('zero'), or known and not handled ('unsupported'). */
export type RuleEntry = Rule | 'zero' | 'unsupported';

/** Ops whose outputs are random draws: nothing flows back through a sample (node tests skip them too). */
export const randomOps = [
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
] as const;

/**
 * Ops with no gradient: their outputs are integers, booleans or shapes, or they are piecewise constant in their
 * float inputs — Floor, Ceil, Round, Sign, Hardmax and QuantizeLinear (Y = saturate(round(X/scale) + zero_point))
 * are flat between their jumps, so the true derivative is 0 almost everywhere (and undefined on the jumps, a set of
 * measure zero). A QuantizeLinear → DequantizeLinear chain therefore passes no gradient to X: the straight-through
 * estimator (dX = dY) is a training heuristic, not this derivative, and is not what `pseudoword grad` computes.
 */
const zero = [
  'Shape',
  'Size',
  'Range',
  'ConstantOfShape',
  'Constant',
  'EyeLike',
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'Floor',
  'MelWeightMatrix',
  'Ceil',
  'Round',
  'Sign',
  'Hardmax',
  'QuantizeLinear',
  ...randomOps,
  'BitShift',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
  'BitwiseNot',
] as const;

/**
 * Ops known and not differentiated, each with the reason the error gives: control flow whose bodies are graphs (the
 * driver differentiates one graph, not subgraphs), ops whose outputs change size or jump with the values, and the
 * few whose rules are not written yet (said so).
 */
export const unsupportedWhy: Readonly<Record<string, string>> = {
  Unique:
    'it has one output entry per distinct value, so at a tie any perturbation that separates the tied inputs adds an entry: Y and its size jump there, and no derivative exists (between ties Y only permutes X, but whether X has ties is known only at run time)',
  NonMaxSuppression: 'it returns selected indices: piecewise constant in the boxes and scores',
};

const rules: Record<string, Rule> = {
  Add: ew.add,
  Sub: ew.sub,
  Mul: ew.mul,
  Div: ew.div,
  Pow: ew.pow,
  Neg: ew.neg,
  Sqrt: ew.sqrt,
  Exp: ew.exp,
  Log: ew.log,
  Reciprocal: ew.reciprocal,
  Abs: ew.abs,
  Erf: ew.erf,
  Sin: ew.sin,
  Cos: ew.cos,
  Sum: ew.sum,
  Mean: ew.mean,
  Max: ew.max,
  Min: ew.min,
  Where: ew.where,
  Tan: trig.tan,
  Asin: trig.asin,
  Acos: trig.acos,
  Atan: trig.atan,
  Sinh: trig.sinh,
  Cosh: trig.cosh,
  Asinh: trig.asinh,
  Acosh: trig.acosh,
  Atanh: trig.atanh,
  Elu: pw.elu,
  Selu: pw.selu,
  Celu: pw.celu,
  HardSigmoid: pw.hardSigmoid,
  HardSwish: pw.hardSwish,
  Mish: pw.mish,
  Softsign: pw.softsign,
  Shrink: pw.shrink,
  ThresholdedRelu: pw.thresholdedRelu,
  PRelu: pw.prelu,
  Sigmoid: act.sigmoid,
  Tanh: act.tanh,
  Relu: act.relu,
  LeakyRelu: act.leakyRelu,
  Softplus: act.softplus,
  Gelu: act.gelu,
  Clip: act.clip,
  Softmax: act.softmax,
  LogSoftmax: act.logSoftmax,
  MatMul: mm.matmul,
  Gemm: mm.gemm,
  Einsum: mm.einsum,
  Conv: conv.conv,
  ConvTranspose: conv.convTranspose,
  Resize: conv.resize,
  Upsample: conv.resize,
  InstanceNormalization: norm.instanceNorm,
  LayerNormalization: norm.layerNorm,
  GroupNormalization: norm.groupNorm,
  BatchNormalization: norm.batchNorm,
  ReduceSum: red.reduceSum,
  ReduceMean: red.reduceMean,
  ReduceSumSquare: red.reduceSumSquare,
  ReduceL1: red.reduceL1,
  ReduceL2: red.reduceL2,
  ReduceLogSum: red.reduceLogSum,
  ReduceLogSumExp: red.reduceLogSumExp,
  ReduceProd: red.reduceProd,
  ReduceMax: red.reduceMax,
  ReduceMin: red.reduceMin,
  Reshape: shape.reshape,
  Flatten: shape.reshape,
  Squeeze: shape.squeeze,
  Unsqueeze: shape.unsqueeze,
  Transpose: shape.transpose,
  Concat: shape.concat,
  Split: shape.split,
  Slice: shape.slice,
  Expand: shape.expand,
  Pad: shape.pad,
  Cast: shape.cast,
  CastLike: shape.cast,
  Identity: shape.identity,
  Dropout: shape.dropout,
  Gather: index.gather,
  GatherElements: index.gatherElements,
  Trilu: index.trilu,
  CumSum: index.cumSum,
  GlobalAveragePool: pool.globalAveragePool,
  GlobalMaxPool: pool.globalMaxPool,
  MaxPool: pool.maxPool,
  AveragePool: pool.averagePool,
  NegativeLogLikelihoodLoss: loss.negativeLogLikelihoodLoss,
  SoftmaxCrossEntropyLoss: loss.softmaxCrossEntropyLoss,
  TopK: index.topK,
  Scatter: index.scatterElements,
  ScatterElements: index.scatterElements,
  ScatterND: index.scatterND,
  MaxUnpool: index.maxUnpool,
  OneHot: index.oneHot,
  Mod: ew.mod,
  DynamicQuantizeLinear: index.dynamicQuantizeLinear,
  DequantizeLinear: index.dequantizeLinear,
  MeanVarianceNormalization: norm.meanVarianceNormalization,
  LRN: norm.lrn,
  DFT: fourier.dft,
  STFT: fourier.stft,
  RNN: recurrent.rnn,
  LSTM: recurrent.lstm,
  GRU: recurrent.gru,
  GridSample: gridSample,
  RoiAlign: roiAlign,
  Col2Im: col2im,
  LpNormalization: lpNormalization,
  If: ifRule,
  Loop: loop.loop,
  Scan: loop.scan,
  Det: mm.det,
  Tile: movedByGrid,
  DepthToSpace: movedByGrid,
  SpaceToDepth: movedByGrid,
  GatherND: movedByGrid,
  Compress: movedByGrid,
  ReverseSequence: movedByGrid,
};

/** Op type → rule, 'zero' or 'unsupported'. Ops not listed have no rule (also an error when on the path). */
export const ruleTable: Readonly<Record<string, RuleEntry>> = {
  ...Object.fromEntries(zero.map((op) => [op, 'zero' as const])),
  ...Object.fromEntries(Object.keys(unsupportedWhy).map((op) => [op, 'unsupported' as const])),
  ...rules,
};

/**
 * Ops whose inputs broadcast against each other: the driver sums each input's gradient back to that input's
 * shape (ReduceSum over broadcast axes, then dropping the leading ones).
 */
export const broadcasting: ReadonlySet<string> = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Mod',
  'PRelu',
  'Clip',
  'Where',
  'Expand',
  'MatMul',
  'Gemm',
  'Einsum',
  'LayerNormalization',
]);
