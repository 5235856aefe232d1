/**
 * A model's float32 world moved to float64: graph inputs, outputs, value infos, initializers, tensor attributes
 * and Cast targets. Gradient checks run in double precision where onnxruntime has double kernels for every op, so
 * central differences can use a tiny step and a tight tolerance.
 */
import { tensor } from '../../common/tensor.ts';
import { type Attribute, DataType, type Graph, type Model, type TensorProto, type ValueInfo } from '../onnx/proto.ts';
import { makeTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';

const widen = (t: TensorProto): TensorProto =>
  t.dataType !== DataType.FLOAT || t.external
    ? t
    : makeTensorProto(t.name, tensor('float64', t.dims, Float64Array.from(readTensorProto(t).data as Float32Array)));

const widenInfo = (v: ValueInfo): ValueInfo =>
  v.type?.elemType === DataType.FLOAT ? { ...v, type: { ...v.type, elemType: DataType.DOUBLE } } : v;

/** Attributes naming an element type to produce: Cast `to`, and the `dtype` of EyeLike and the random ops. */
const typeAttrs = new Set(['to', 'dtype']);

const widenAttr = (a: Attribute): Attribute => {
  if (a.t) return { ...a, t: widen(a.t) };
  if (a.g) return { ...a, g: widenGraph(a.g) };
  if (typeAttrs.has(a.name) && a.i === DataType.FLOAT) return { ...a, i: DataType.DOUBLE };
  return a;
};

const widenGraph = (g: Graph): Graph => ({
  ...g,
  nodes: g.nodes.map((n) => ({ ...n, attributes: n.attributes.map(widenAttr) })),
  initializers: g.initializers.map(widen),
  inputs: g.inputs.map(widenInfo),
  outputs: g.outputs.map(widenInfo),
  valueInfo: g.valueInfo.map(widenInfo),
});

/**
 * The same model computing in float64 wherever it computed in float32.
 *
 * @example
 * const m64 = toFloat64(decodeModel(bytes)); // inputs declared double, Cast(to=FLOAT) now casts to DOUBLE
 */
export const toFloat64 = (m: Model): Model => ({ ...m, graph: widenGraph(m.graph) });
