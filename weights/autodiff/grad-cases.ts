/**
 * The finite-difference table: one row (or more) per VJP rule, like JAX's `grad_test_spec` list. Each row names
 * the op, its attributes, input shapes (broadcasting, dynamic dims as symbols), optional float16 execution and
 * the relative L2 tolerance against central differences. `rules.test.ts` runs every row through `checkGrads`.
 */
import { f } from '../onnx/builder.ts';
import type { CaseInput, GradCase } from './check-grads.ts';

/** A named row with its tolerance (relative L2 against central differences). */
export interface GradRow extends GradCase { name: string; tol: number }

const x = (dims: number[], o: Partial<CaseInput> = {}): CaseInput => ({ dims, ...o });
const dyn = (dims: number[], decl: (number | string)[], o: Partial<CaseInput> = {}): CaseInput => ({ dims, decl, ...o });
const pos = (dims: number[]) => x(dims, { sample: 'positive' });
const away = (dims: number[]) => x(dims, { sample: 'away' });
const param = (dims: number[]) => x(dims, { kind: 'param' });
const fixed = (dims: number[]) => x(dims, { kind: 'input' });
const i64 = (values: number[], dims = [values.length]): CaseInput => ({ dims, kind: 'const', dtype: 'int64', values });
const f32 = (values: number[], dims = [values.length]): CaseInput => ({ dims, kind: 'const', values });
const big = 2 ** 62;

const T = 1e-3; // float32 rows
const H = 1.5e-2; // float16 rows (analytic in half precision, differences of the float32 forward)

/** Every row; `rules.test.ts` checks that each op with a rule has at least one. */
export const gradCases: GradRow[] = [
  // elementwise
  { name: 'Add broadcasts [B,3,4] + [3,1]', op: 'Add', inputs: [dyn([2, 3, 4], ['batch', 3, 4]), x([3, 1])], tol: T },
  { name: 'Add un-broadcasts at run time when symbols leave it open', op: 'Add', inputs: [dyn([3, 4], ['n', 4]), dyn([1, 4], ['m', 4])], tol: T },
  { name: 'Sub broadcasts a row', op: 'Sub', inputs: [x([2, 3]), x([3])], tol: T },
  { name: 'Mul broadcasts both ways', op: 'Mul', inputs: [x([2, 1, 4]), x([3, 1])], tol: T },
  { name: 'Div by a broadcast positive vector', op: 'Div', inputs: [x([2, 3]), pos([3])], tol: T },
  { name: 'Pow of a positive base to a tensor exponent', op: 'Pow', inputs: [pos([2, 3]), x([3])], tol: T },
  { name: 'Pow by the constant 2', op: 'Pow', inputs: [x([2, 3]), f32([2], [])], tol: T },
  { name: 'Pow by an integer exponent', op: 'Pow', inputs: [x([2, 3]), i64([3], [])], tol: T },
  { name: 'Neg', op: 'Neg', inputs: [x([2, 3])], tol: T },
  { name: 'Sqrt', op: 'Sqrt', inputs: [pos([2, 3])], tol: T },
  { name: 'Exp', op: 'Exp', inputs: [x([2, 3])], tol: T },
  { name: 'Log', op: 'Log', inputs: [pos([2, 3])], tol: T },
  { name: 'Reciprocal', op: 'Reciprocal', inputs: [pos([2, 3])], tol: T },
  { name: 'Abs', op: 'Abs', inputs: [away([2, 3])], tol: T },
  { name: 'Erf', op: 'Erf', inputs: [x([2, 3])], tol: T },
  { name: 'Sin', op: 'Sin', inputs: [x([2, 3])], tol: T },
  { name: 'Cos', op: 'Cos', inputs: [x([2, 3])], tol: T },
  { name: 'Sum of three broadcast inputs', op: 'Sum', inputs: [x([2, 3]), x([3]), x([2, 1])], tol: T },
  { name: 'Max of two', op: 'Max', inputs: [x([2, 3]), x([2, 3])], tol: T },
  { name: 'Min with a broadcast operand', op: 'Min', inputs: [x([2, 3]), x([3])], tol: T },
  { name: 'Where with a broadcast condition', op: 'Where', inputs: [{ dims: [3], kind: 'const', dtype: 'bool', values: [1, 0, 1] }, x([2, 3]), x([2, 1])], tol: T },
  // activations
  { name: 'Sigmoid', op: 'Sigmoid', inputs: [x([2, 3])], tol: T },
  { name: 'Tanh', op: 'Tanh', inputs: [x([2, 3])], tol: T },
  { name: 'Relu', op: 'Relu', inputs: [away([2, 3])], tol: T },
  { name: 'LeakyRelu', op: 'LeakyRelu', attrs: { alpha: f(0.1) }, inputs: [away([2, 3])], tol: T },
  { name: 'Softplus', op: 'Softplus', inputs: [x([2, 3])], tol: T },
  { name: 'Gelu (erf)', op: 'Gelu', opset: 20, inputs: [x([2, 3])], tol: T },
  { name: 'Gelu (tanh approximation)', op: 'Gelu', opset: 20, attrs: { approximate: 'tanh' }, inputs: [x([2, 3])], tol: T },
  { name: 'Clip with min and max inputs', op: 'Clip', inputs: [x([3, 4]), f32([-0.5], []), f32([0.7], [])], tol: T },
  { name: 'Clip with only a min', op: 'Clip', inputs: [x([3, 4]), f32([-0.3], [])], tol: T },
  { name: 'Softmax on the middle axis', op: 'Softmax', attrs: { axis: 1 }, inputs: [x([2, 3, 4])], tol: T },
  { name: 'Softmax at opset 11 (coerced to 2-D)', op: 'Softmax', opset: 11, attrs: { axis: 1 }, inputs: [x([2, 3, 4])], tol: T },
  { name: 'LogSoftmax', op: 'LogSoftmax', attrs: { axis: -1 }, inputs: [x([2, 5])], tol: T },
  // products
  { name: 'MatMul of matrices', op: 'MatMul', inputs: [x([3, 4]), x([4, 5])], tol: T },
  { name: 'MatMul batched on both sides', op: 'MatMul', inputs: [dyn([2, 3, 4], ['batch', 3, 4]), dyn([2, 4, 5], ['batch', 4, 5])], tol: T },
  { name: 'MatMul with broadcast batch dims', op: 'MatMul', inputs: [x([2, 1, 3, 4]), x([3, 4, 2])], tol: T },
  { name: 'MatMul of activations by a weight (Gemm path, dynamic batch)', op: 'MatMul', inputs: [dyn([2, 3, 4], ['batch', 'seq', 4]), param([4, 5])], tol: T },
  { name: 'MatMul of a vector by a matrix batch', op: 'MatMul', inputs: [x([4]), x([2, 4, 3])], tol: T },
  { name: 'MatMul of a matrix batch by a vector', op: 'MatMul', inputs: [x([2, 3, 4]), x([4])], tol: T },
  { name: 'Gemm with transB, alpha, beta and a row bias', op: 'Gemm', attrs: { transB: 1, alpha: f(0.7), beta: f(1.3) }, inputs: [x([3, 4]), x([5, 4]), x([5])], tol: T },
  { name: 'Gemm with transA and a [1,N] bias', op: 'Gemm', attrs: { transA: 1 }, inputs: [x([4, 3]), x([4, 5]), x([1, 5])], tol: T },
  { name: 'Gemm with both transposed', op: 'Gemm', attrs: { transA: 1, transB: 1 }, inputs: [x([4, 3]), x([5, 4])], tol: T },
  { name: 'Einsum batched matmul', op: 'Einsum', attrs: { equation: 'bij,bjk->bik' }, inputs: [x([2, 3, 4]), x([2, 4, 2])], tol: T },
  { name: 'Einsum attention scores', op: 'Einsum', attrs: { equation: 'bhid,bhjd->bhij' }, inputs: [x([1, 2, 3, 4]), x([1, 2, 3, 4])], tol: T },
  { name: 'Einsum with an index summed inside one operand', op: 'Einsum', attrs: { equation: 'ij,k->jk' }, inputs: [x([3, 2]), x([4])], tol: T },
  // convolutions
  { name: 'Conv 3×3 pad 1 with weight and bias gradients', op: 'Conv', attrs: { pads: [1, 1, 1, 1] }, inputs: [x([2, 2, 4, 4]), param([3, 2, 3, 3]), param([3])], tol: T },
  { name: 'Conv stride 2 on an odd size (output_padding)', op: 'Conv', attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, inputs: [x([1, 2, 5, 5]), param([2, 2, 3, 3])], tol: T },
  { name: 'Conv stride 2 on an even size', op: 'Conv', attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, inputs: [x([1, 2, 6, 6]), x([2, 2, 3, 3], { kind: 'input' })], tol: T },
  { name: 'Conv stride 2 with dynamic spatial sizes', op: 'Conv', attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, inputs: [dyn([1, 2, 5, 6], ['n', 2, 'h', 'w']), fixed([2, 2, 3, 3])], tol: T },
  { name: 'Conv grouped and dilated', op: 'Conv', attrs: { group: 2, dilations: [2, 2], pads: [2, 2, 2, 2] }, inputs: [x([1, 4, 5, 5]), fixed([4, 2, 3, 3])], tol: T },
  { name: 'Conv stride 1 with the kernel flipped per step, grouped', op: 'Conv', options: { convInputGrad: 'flipped-conv-per-step' }, attrs: { pads: [1, 1, 1, 1], group: 2 }, inputs: [x([1, 4, 4, 5]), fixed([4, 2, 3, 3])], tol: T },
  { name: 'Conv stride 1 with the kernel flipped per step', op: 'Conv', options: { convInputGrad: 'flipped-conv-per-step' }, attrs: { pads: [1, 0, 1, 1] }, inputs: [x([2, 2, 4, 5]), param([3, 2, 3, 2]), param([3])], tol: T },
  { name: 'Conv stride 1 through ConvTranspose (dynamic spatial sizes)', op: 'Conv', options: { convInputGrad: 'conv-transpose' }, attrs: { pads: [1, 1, 1, 1] }, inputs: [dyn([1, 2, 4, 5], [1, 2, 'h', 'w']), fixed([3, 2, 3, 3])], tol: T },
  { name: 'Conv weight gradient grouped, dilated and strided (patches)', op: 'Conv', attrs: { group: 2, dilations: [2, 1], strides: [2, 1], pads: [2, 1, 1, 0] }, inputs: [x([2, 4, 6, 5]), param([6, 2, 3, 2]), param([6])], tol: T },
  { name: 'Conv weight gradient of a strided 1×1 conv (patches)', op: 'Conv', attrs: { strides: [2, 2] }, inputs: [x([2, 3, 5, 4]), param([2, 3, 1, 1])], tol: T },
  { name: 'Conv weight gradient as the batch-as-channels conv', op: 'Conv', options: { convWeightGrad: 'conv' }, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, inputs: [x([2, 2, 5, 5]), param([3, 2, 3, 3])], tol: T },
  { name: 'Conv weight gradient with dynamic spatial sizes', op: 'Conv', attrs: { pads: [1, 1, 1, 1] }, inputs: [dyn([2, 2, 4, 5], ['n', 2, 'h', 'w']), param([3, 2, 3, 3])], tol: T },
  { name: 'Conv with asymmetric pads', op: 'Conv', attrs: { pads: [0, 1, 2, 1] }, inputs: [x([1, 2, 4, 4]), param([2, 2, 3, 3])], tol: T },
  { name: 'Conv 1-D with weight gradient', op: 'Conv', attrs: { pads: [1, 0], strides: [2] }, inputs: [x([2, 2, 7]), param([3, 2, 3])], tol: T },
  { name: 'ConvTranspose stride 2 with bias', op: 'ConvTranspose', attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, inputs: [x([1, 3, 3, 3]), fixed([3, 2, 3, 3]), param([2])], tol: T },
  { name: 'Resize nearest ×2 (scales, dynamic batch)', op: 'Resize', attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, inputs: [dyn([2, 2, 3, 3], ['batch', 2, 3, 3]), null, f32([1, 1, 2, 2])], tol: T },
  { name: 'Resize nearest ×(1,3) from sizes', op: 'Resize', attrs: { mode: 'nearest' }, inputs: [x([1, 2, 2, 3]), null, null, i64([1, 2, 2, 9])], tol: T },
  { name: 'Resize nearest ×2 at opset 18', op: 'Resize', opset: 18, attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, inputs: [x([1, 2, 2, 3]), null, f32([1, 1, 2, 2])], tol: T },
  { name: 'Upsample (opset 9)', op: 'Upsample', opset: 9, attrs: { mode: 'nearest' }, inputs: [x([1, 1, 2, 3]), f32([1, 1, 2, 2])], tol: T },
  // normalisations
  { name: 'InstanceNormalization with scale and bias gradients', op: 'InstanceNormalization', attrs: { epsilon: f(1e-5) }, inputs: [x([2, 3, 4, 4]), param([3]), param([3])], tol: T },
  { name: 'LayerNormalization on the last axis', op: 'LayerNormalization', inputs: [dyn([2, 3, 6], ['batch', 3, 6]), param([6]), param([6])], tol: T },
  { name: 'LayerNormalization over the last two axes', op: 'LayerNormalization', attrs: { axis: 1 }, inputs: [x([2, 3, 4]), param([3, 4]), param([3, 4])], tol: T },
  { name: 'GroupNormalization (opset 18, per-group scale)', op: 'GroupNormalization', opset: 18, attrs: { num_groups: 2 }, inputs: [x([2, 4, 3, 3]), param([2]), param([2])], tol: T },
  { name: 'GroupNormalization (opset 21, per-channel scale)', op: 'GroupNormalization', opset: 21, attrs: { num_groups: 2 }, inputs: [x([2, 4, 3]), param([4]), param([4])], tol: T },
  { name: 'BatchNormalization in inference mode', op: 'BatchNormalization', inputs: [x([2, 3, 4]), param([3]), param([3]), f32([0.1, -0.2, 0.3]), f32([1.5, 0.5, 2])], tol: T },
  // reductions
  { name: 'ReduceSum over an axis without keepdims', op: 'ReduceSum', attrs: { keepdims: 0 }, inputs: [x([2, 3, 4]), i64([1])], tol: T },
  { name: 'ReduceSum at opset 11 (axes attribute)', op: 'ReduceSum', opset: 11, attrs: { axes: [0, 2] }, inputs: [x([2, 3, 4])], tol: T },
  { name: 'ReduceMean over the last axis with a dynamic batch', op: 'ReduceMean', attrs: { axes: [-1] }, inputs: [dyn([2, 3, 4], ['batch', 3, 4])], tol: T },
  { name: 'ReduceMean over a dynamic axis (opset 18 axes input)', op: 'ReduceMean', opset: 18, attrs: { keepdims: 0 }, inputs: [dyn([2, 3, 4], [2, 'n', 4]), i64([1])], tol: T },
  { name: 'ReduceSumSquare', op: 'ReduceSumSquare', attrs: { axes: [1] }, inputs: [x([2, 3])], tol: T },
  // data movement
  { name: 'Reshape with 0 and −1 on a dynamic batch', op: 'Reshape', inputs: [dyn([2, 3, 4], ['batch', 3, 4]), i64([0, -1])], tol: T },
  { name: 'Flatten', op: 'Flatten', attrs: { axis: 2 }, inputs: [x([2, 3, 2, 2])], tol: T },
  { name: 'Squeeze (axes input)', op: 'Squeeze', inputs: [x([2, 1, 3]), i64([1])], tol: T },
  { name: 'Squeeze at opset 11 (axes attribute)', op: 'Squeeze', opset: 11, attrs: { axes: [1] }, inputs: [x([2, 1, 3])], tol: T },
  { name: 'Unsqueeze', op: 'Unsqueeze', inputs: [x([2, 3]), i64([0, 3])], tol: T },
  { name: 'Transpose', op: 'Transpose', attrs: { perm: [2, 0, 1] }, inputs: [x([2, 3, 4])], tol: T },
  { name: 'Concat of three', op: 'Concat', attrs: { axis: 1 }, inputs: [x([2, 1, 3]), x([2, 2, 3]), fixed([2, 3, 3])], tol: T },
  { name: 'Concat along a dynamic axis', op: 'Concat', attrs: { axis: 0 }, inputs: [dyn([2, 3], ['a', 3]), dyn([1, 3], ['b', 3])], tol: T },
  { name: 'Split by sizes', op: 'Split', outputs: 2, attrs: { axis: 1 }, inputs: [x([2, 5]), i64([2, 3])], tol: T },
  { name: 'Split in halves with one output unused', op: 'Split', outputs: 2, use: [1], attrs: { axis: -1 }, inputs: [x([2, 6])], tol: T },
  { name: 'Split into uneven num_outputs (opset 18)', op: 'Split', opset: 18, outputs: 3, attrs: { axis: 1, num_outputs: 3 }, inputs: [x([2, 7])], tol: T },
  { name: 'Slice with negative starts and open ends', op: 'Slice', inputs: [x([3, 5]), i64([1, -3]), i64([big, -1]), i64([0, 1])], tol: T },
  { name: 'Slice of a dynamic axis', op: 'Slice', inputs: [dyn([4, 3], ['n', 3]), i64([1]), i64([-1]), i64([0])], tol: T },
  { name: 'Expand', op: 'Expand', inputs: [x([3, 1]), i64([2, 3, 4])], tol: T },
  { name: 'Pad that adds and crops', op: 'Pad', inputs: [x([3, 4]), i64([1, -1, 0, 2])], tol: T },
  { name: 'Pad on chosen axes (opset 18)', op: 'Pad', opset: 18, inputs: [x([2, 3, 4]), i64([1, 2, 0, 1]), null, i64([0, 2])], tol: T },
  { name: 'Cast', op: 'Cast', attrs: { to: 1 }, inputs: [x([2, 3])], tol: T },
  { name: 'CastLike', op: 'CastLike', inputs: [x([2, 3]), f32([0], [])], tol: T },
  { name: 'Identity', op: 'Identity', inputs: [x([2, 3])], tol: T },
  { name: 'Dropout (inference)', op: 'Dropout', inputs: [x([2, 3])], tol: T },
  // indexing
  { name: 'Gather rows with repeated indices', op: 'Gather', inputs: [x([3, 4]), i64([0, 2, 0])], tol: T },
  { name: 'Gather with negative indices', op: 'Gather', inputs: [x([3, 2]), i64([-1, 0, -1])], tol: T },
  { name: 'Gather on axis 1 with 2-D indices', op: 'Gather', attrs: { axis: 1 }, inputs: [x([2, 3, 2]), i64([2, 0, 1, 2], [2, 2])], tol: T },
  { name: 'Gather of one column (scalar index)', op: 'Gather', attrs: { axis: 1 }, inputs: [x([2, 3]), i64([1], [])], tol: T },
  { name: 'GatherElements', op: 'GatherElements', attrs: { axis: 1 }, inputs: [x([2, 3]), i64([0, 0, 2, 1], [2, 2])], tol: T },
  { name: 'Trilu (upper, k = 1)', op: 'Trilu', inputs: [x([3, 3]), i64([1], [])], tol: T },
  { name: 'CumSum reversed and exclusive', op: 'CumSum', attrs: { reverse: 1, exclusive: 1 }, inputs: [x([2, 4]), i64([1], [])], tol: T },
  // float16 (analytic gradient in half precision; sums and statistics in float32)
  { name: 'Add in float16', op: 'Add', half: true, inputs: [x([2, 3, 4]), x([3, 1])], tol: H },
  { name: 'Mul in float16', op: 'Mul', half: true, inputs: [x([2, 3]), x([3])], tol: H },
  { name: 'Div in float16', op: 'Div', half: true, inputs: [x([2, 3]), pos([3])], tol: H },
  { name: 'Sigmoid in float16', op: 'Sigmoid', half: true, inputs: [x([2, 3])], tol: H },
  { name: 'Erf in float16', op: 'Erf', half: true, inputs: [x([2, 3])], tol: H },
  { name: 'MatMul by a weight in float16', op: 'MatMul', half: true, inputs: [x([2, 3, 4]), param([4, 5])], tol: H },
  { name: 'Gemm in float16', op: 'Gemm', half: true, attrs: { transB: 1 }, inputs: [x([3, 4]), x([5, 4]), x([5])], tol: H },
  { name: 'Softmax in float16', op: 'Softmax', half: true, inputs: [x([2, 6])], tol: H },
  { name: 'LayerNormalization in float16', op: 'LayerNormalization', half: true, inputs: [x([2, 3, 8]), param([8]), param([8])], tol: H },
  { name: 'InstanceNormalization in float16', op: 'InstanceNormalization', half: true, inputs: [x([2, 3, 4, 4]), param([3]), param([3])], tol: H },
  { name: 'GroupNormalization in float16', op: 'GroupNormalization', half: true, opset: 21, attrs: { num_groups: 2 }, inputs: [x([2, 4, 3, 3]), param([4]), param([4])], tol: H },
  { name: 'Conv in float16', op: 'Conv', half: true, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, inputs: [x([1, 2, 5, 5]), param([2, 2, 3, 3]), param([2])], tol: H },
  { name: 'ReduceMean in float16', op: 'ReduceMean', half: true, attrs: { axes: [1] }, inputs: [x([2, 8])], tol: H },
  { name: 'Gather in float16', op: 'Gather', half: true, inputs: [x([3, 4]), i64([0, 2, 0])], tol: H },
  { name: 'Resize in float16', op: 'Resize', half: true, attrs: { mode: 'nearest' }, inputs: [x([1, 2, 2, 2]), null, f32([1, 1, 2, 2])], tol: H },
];

