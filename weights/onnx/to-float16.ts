/**
 * float32 → float16 conversion of an ONNX model, the way onnxconverter-common's `convert_float_to_float16` makes
 * the half-precision exports people ship (Optimum's `--dtype fp16` exports by running torch in half; the graph it
 * writes has the same shape: float16 weights, float16 float inputs and outputs, int tensors untouched):
 *
 * - float32 initializers and Constant / ConstantOfShape values become float16, clamped to ±65504 (half's largest
 *   finite value: a mask constant such as −3.4e38 becomes −65504 instead of −inf);
 * - float32 graph inputs, outputs and value infos become float16, except the inputs named in `keepInputs`, which
 *   stay float32 and are cast to float16 right after the graph input (for float32 master vectors and the like);
 * - `Cast(to=float)` and `dtype=float` attributes (RandomNormal, EyeLike…) now make float16;
 * - the inputs ONNX requires in float32 whatever the data type (Resize's `roi` and `scales`, Upsample's `scales`)
 *   stay float32: an initializer read only there is left as it is, any other value gets a `Cast(to=float)`;
 * - int64/int32/bool tensors (shapes, ids, masks) are left as they are.
 *
 * Initializers whose data was external are written to one new external file (`externalName`), so a big UNet
 * stays under protobuf's 2 GB; the others are written inline.
 */
import { PipelineError } from '../../common/errors.ts';
import { halfArray } from '../../common/numerics/half.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { AttrType, DataType, type Attribute, type Graph, type Model, type Node, type ValueInfo } from './proto.ts';
import { widenHalfInputs } from './widen-half-inputs.ts';
import { makeExternalTensorProto, makeTensorProto, readTensorProto, type ExternalReader } from './tensor-proto.ts';

export interface ToFloat16Options {
  /** Reads external initializer data (required when the model has any). */
  external?: ExternalReader;
  /** The file name external float16 data is written to, beside the model (default `model.onnx_data`). */
  externalName?: string;
  /** Float graph inputs to keep in float32, cast to float16 inside the graph. */
  keepInputs?: readonly string[];
}

export interface Float16Model {
  model: Model;
  /** The new external data file's bytes, when the source model had external initializers. */
  externalData?: Uint8Array;
}

const halfMax = 65504;

/** Inputs that ONNX types as float32 whatever the data (op → input positions). */
const float32Slots: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };
/** Ops whose schema has no float16 at all: a float one runs in float32 between Casts (Range: torch's arange). */
const float32Ops = new Set(['Range']);

const toHalfTensor = (t: Tensor<'float32'>): Tensor<'float16'> =>
  tensor(
    'float16',
    t.dims,
    halfArray(Float32Array.from(t.data, (v) => (Number.isNaN(v) ? v : Math.max(-halfMax, Math.min(halfMax, v))))),
  );

const halfValueInfo = (v: ValueInfo): ValueInfo =>
  v.type?.elemType === DataType.FLOAT ? { ...v, type: { ...v.type, elemType: DataType.FLOAT16 } } : v;

class Converter {
  private readonly chunks: Uint8Array[] = [];
  private offset = 0;
  private castCount = 0;
  constructor(private readonly o: ToFloat16Options) {}

  /** The external file's bytes (chunks aligned to 64 bytes, as onnx's external-data writer aligns). */
  externalData(): Uint8Array | undefined {
    if (!this.chunks.length) return undefined;
    const out = new Uint8Array(this.offset);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += Math.ceil(c.byteLength / 64) * 64;
    }
    return out;
  }

  private fresh(base: string): string {
    return `${base}/fp16_cast_${this.castCount++}`;
  }

  private tensorProto(name: string, t: Tensor, external: boolean) {
    if (!external) return makeTensorProto(name, t);
    const d = t.data as ArrayBufferView;
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
    const at = this.offset;
    this.chunks.push(bytes);
    this.offset += Math.ceil(bytes.byteLength / 64) * 64;
    return makeExternalTensorProto(
      name,
      t.dtype,
      t.dims,
      this.o.externalName ?? 'model.onnx_data',
      at,
      bytes.byteLength,
    );
  }

  private attribute(a: Attribute): Attribute {
    if (a.type === AttrType.TENSOR && a.t?.dataType === DataType.FLOAT)
      return { ...a, t: makeTensorProto(a.t.name, toHalfTensor(readTensorProto(a.t) as Tensor<'float32'>)) };
    if (a.type === AttrType.GRAPH && a.g) return { ...a, g: this.graph(a.g, []) };
    if (a.type === AttrType.GRAPHS && a.graphs) return { ...a, graphs: a.graphs.map((g) => this.graph(g, [])) };
    return a;
  }

  /** Float32 initializers left as they are (read only at float32 slots). */
  private kept32 = new Set<string>();
  /** Values known to be float32 in the source graph (initializers, inputs, Constants, Casts to float). */
  private readonly floats = new Set<string>();

  private cast(from: string, to: number, base: string, out: Node[], output = this.fresh(base)): string {
    out.push({
      name: output,
      opType: 'Cast',
      domain: '',
      inputs: [from],
      outputs: [output],
      attributes: [{ name: 'to', type: AttrType.INT, i: to, unknown: [] }],
      unknown: [],
    });
    return output;
  }

  private node(n: Node, out: Node[]): void {
    const isFloat =
      (n.opType === 'Cast' && n.attributes.some((a) => a.name === 'to' && a.i === DataType.FLOAT)) ||
      (n.opType === 'Constant' &&
        n.attributes.some(
          (a) => a.name === 'value_float' || a.name === 'value_floats' || a.t?.dataType === DataType.FLOAT,
        ));
    if (isFloat) this.floats.add(n.outputs[0]);
    if (float32Ops.has(n.opType) && n.inputs.some((v) => this.floats.has(v))) {
      // Inputs back to float32, the op as it was, its output to float16 under the name its readers use.
      const inputs = n.inputs.map((v) => (v ? this.cast(v, DataType.FLOAT, `${n.name}/in`, out) : v));
      const inner = `${n.outputs[0]}/float32`;
      out.push({ ...n, inputs, outputs: [inner] });
      this.cast(inner, DataType.FLOAT16, `${n.name}/out`, out, n.outputs[0]);
      this.floats.add(n.outputs[0]);
      return;
    }
    let attributes = n.attributes.map((a) => this.attribute(a));
    let inputs = n.inputs;
    if (n.domain === '' || n.domain === 'ai.onnx') {
      // Cast(to=float) and dtype=float now make float16 (the values they feed are float16 now).
      attributes = attributes.map((a) =>
        (a.name === 'to' || a.name === 'dtype') && a.type === AttrType.INT && a.i === DataType.FLOAT
          ? { ...a, i: DataType.FLOAT16 }
          : a,
      );
      if (n.opType === 'Constant') {
        const scalar = attributes.find((a) => a.name === 'value_float' || a.name === 'value_floats');
        if (scalar) {
          const values = scalar.name === 'value_float' ? [scalar.f ?? 0] : (scalar.floats ?? []);
          const dims = scalar.name === 'value_float' ? [] : [values.length];
          const t = toHalfTensor(tensor('float32', dims, Float32Array.from(values)));
          attributes = [{ name: 'value', type: AttrType.TENSOR, t: makeTensorProto('value', t), unknown: [] }];
        }
      }
      // ConstantOfShape's default value is a float32 zero: make it explicit, in float16.
      if (n.opType === 'ConstantOfShape' && !attributes.some((a) => a.name === 'value'))
        attributes = [
          ...attributes,
          {
            name: 'value',
            type: AttrType.TENSOR,
            t: makeTensorProto('value', tensor('float16', [1], Uint16Array.of(0))),
            unknown: [],
          },
        ];
      const slots = float32Slots[n.opType];
      if (slots)
        inputs = inputs.map((v, k) => {
          if (!slots.includes(k) || v === '' || this.kept32.has(v)) return v;
          return this.cast(v, DataType.FLOAT, `${n.name || n.opType}/in${k}`, out);
        });
    }
    out.push({ ...n, inputs, attributes });
  }

  graph(g: Graph, keepInputs: readonly string[]): Graph {
    const outer = this.kept32; // a subgraph (If/Loop body) has its own
    for (const t of g.initializers) if (t.dataType === DataType.FLOAT) this.floats.add(t.name);
    for (const v of g.inputs) if (v.type?.elemType === DataType.FLOAT) this.floats.add(v.name);
    // Initializers read only where ONNX wants float32 (Resize's scales) stay float32 and need no Cast.
    const readers = new Map<string, boolean>();
    for (const n of g.nodes)
      n.inputs.forEach((v, k) => {
        const at32 = (n.domain === '' || n.domain === 'ai.onnx') && (float32Slots[n.opType]?.includes(k) ?? false);
        readers.set(v, (readers.get(v) ?? true) && at32);
      });
    for (const v of g.outputs) readers.set(v.name, false);
    this.kept32 = new Set([...readers].filter(([v, only32]) => only32 && this.floats.has(v)).map(([v]) => v));
    const initializers = g.initializers.map((t) => {
      if (t.dataType !== DataType.FLOAT || this.kept32.has(t.name)) return t;
      if (t.external && !this.o.external)
        throw new PipelineError('bad_model', `initializer '${t.name}' is external and no reader was given`);
      return this.tensorProto(
        t.name,
        toHalfTensor(readTensorProto(t, this.o.external) as Tensor<'float32'>),
        t.external !== undefined,
      );
    });
    const nodes: Node[] = [];
    for (const n of g.nodes) this.node(n, nodes);
    const graph = {
      ...g,
      nodes,
      initializers,
      inputs: g.inputs.map(halfValueInfo),
      outputs: g.outputs.map(halfValueInfo),
      valueInfo: g.valueInfo.map(halfValueInfo),
    };
    // Kept inputs: float32 at the edge, cast to float16 right after.
    if (keepInputs.length) widenHalfInputs(graph, keepInputs);
    this.kept32 = outer;
    return graph;
  }
}
/** The float16 version of `model` (see the file comment). */
export const toFloat16 = (model: Model, o: ToFloat16Options = {}): Float16Model => {
  const c = new Converter(o);
  const graph = c.graph(model.graph, o.keepInputs ?? []);
  const externalData = c.externalData();
  return { model: { ...model, graph }, ...(externalData ? { externalData } : {}) };
};
