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
import * as index from './rules/index.ts';
import * as mm from './rules/matmul.ts';
import * as norm from './rules/norm.ts';
import * as red from './rules/reduce.ts';
import * as shape from './rules/shape.ts';

/** A rule, no gradient at all ('zero'), or known and not handled ('unsupported'). */
export type RuleEntry = Rule | 'zero' | 'unsupported';

const zero = [
  'Shape', 'Size', 'Range', 'ConstantOfShape', 'Constant', 'EyeLike', 'Equal', 'Less', 'LessOrEqual', 'Greater',
  'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf', 'ArgMax', 'ArgMin', 'NonZero', 'Floor', 'Ceil',
  'Round', 'Sign', 'Hardmax', 'RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Bernoulli',
  'Multinomial', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'BitwiseNot',
] as const;

const unsupported = [
  'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'Mod', 'TopK',
  'Tile', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpNormalization', 'Loop', 'If', 'Scan',
  'ScatterND', 'ScatterElements', 'GatherND', 'DepthToSpace', 'SpaceToDepth', 'GridSample', 'RoiAlign', 'LSTM', 'GRU',
  'RNN', 'Elu', 'Selu', 'Celu', 'HardSigmoid', 'HardSwish', 'Mish', 'PRelu', 'Atan', 'Asin', 'Acos', 'Tan', 'Sinh',
  'Cosh', 'Det', 'Mean', 'OneHot', 'Compress', 'ReverseSequence', 'Unique', 'NonMaxSuppression', 'QuantizeLinear',
  'DequantizeLinear', 'LRN', 'MeanVarianceNormalization', 'Col2Im', 'STFT', 'DFT',
] as const;

const rules: Record<string, Rule> = {
  Add: ew.add, Sub: ew.sub, Mul: ew.mul, Div: ew.div, Pow: ew.pow, Neg: ew.neg, Sqrt: ew.sqrt, Exp: ew.exp,
  Log: ew.log, Reciprocal: ew.reciprocal, Abs: ew.abs, Erf: ew.erf, Sin: ew.sin, Cos: ew.cos, Sum: ew.sum,
  Max: ew.max, Min: ew.min, Where: ew.where,
  Sigmoid: act.sigmoid, Tanh: act.tanh, Relu: act.relu, LeakyRelu: act.leakyRelu, Softplus: act.softplus,
  Gelu: act.gelu, Clip: act.clip, Softmax: act.softmax, LogSoftmax: act.logSoftmax,
  MatMul: mm.matmul, Gemm: mm.gemm, Einsum: mm.einsum,
  Conv: conv.conv, ConvTranspose: conv.convTranspose, Resize: conv.resize, Upsample: conv.resize,
  InstanceNormalization: norm.instanceNorm, LayerNormalization: norm.layerNorm, GroupNormalization: norm.groupNorm,
  BatchNormalization: norm.batchNorm,
  ReduceSum: red.reduceSum, ReduceMean: red.reduceMean, ReduceSumSquare: red.reduceSumSquare,
  Reshape: shape.reshape, Flatten: shape.reshape, Squeeze: shape.squeeze, Unsqueeze: shape.unsqueeze,
  Transpose: shape.transpose, Concat: shape.concat, Split: shape.split, Slice: shape.slice, Expand: shape.expand,
  Pad: shape.pad, Cast: shape.cast, CastLike: shape.cast, Identity: shape.identity, Dropout: shape.dropout,
  Gather: index.gather, GatherElements: index.gatherElements, Trilu: index.trilu, CumSum: index.cumSum,
};

/** Op type → rule, 'zero' or 'unsupported'. Ops not listed have no rule (also an error when on the path). */
export const ruleTable: Readonly<Record<string, RuleEntry>> = {
  ...Object.fromEntries(zero.map((op) => [op, 'zero' as const])),
  ...Object.fromEntries(unsupported.map((op) => [op, 'unsupported' as const])),
  ...rules,
};

/**
 * Ops whose inputs broadcast against each other: the driver sums each input's gradient back to that input's
 * shape (ReduceSum over broadcast axes, then dropping the leading ones).
 */
export const broadcasting: ReadonlySet<string> = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Where', 'Expand', 'MatMul', 'Gemm', 'Einsum',
  'LayerNormalization',
]);
