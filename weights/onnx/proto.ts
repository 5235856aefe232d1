/**
 * ONNX messages (ModelProto, GraphProto, NodeProto, …) as plain objects, read from and written to the protobuf
 * wire format. Field numbers follow onnx.proto (IR 10). Everything we do not interpret — functions, training
 * info, sparse initializers, doc strings of values, fields newer than this file — is kept in `unknown` as raw
 * field bytes and written back unchanged. Initializers keep their encoded bytes: a model read and written again
 * carries its weights byte for byte, and external data is never touched.
 */
import {
  readFields,
  asString,
  asInt,
  asFloat,
  asBytes,
  asPackedInts,
  asPackedFloats,
  Writer,
  type RawField,
} from './wire.ts';
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';

export interface OpsetId {
  domain: string;
  version: number;
}
export interface KeyValue {
  key: string;
  value: string;
}

/** Tensor element type (onnx TensorProto.DataType). */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

/** A dimension: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;
export interface TensorType {
  elemType: number;
  shape: Dim[] | null;
}
export interface ValueInfo {
  name: string;
  type?: TensorType;
  unknown: Uint8Array[];
}

/** A TensorProto. `bytes` is the encoded message when it came from a file or was built once; never re-encoded. */
export interface TensorProto {
  name: string;
  dataType: number;
  dims: number[];
  /** external_data entries (location, offset, length, checksum) when data_location is EXTERNAL. */
  external?: KeyValue[];
  bytes: Uint8Array;
}

export const AttrType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: Graph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: Graph[];
  unknown: Uint8Array[];
}

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  unknown: Uint8Array[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: TensorProto[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  unknown: Uint8Array[];
}

export interface Model {
  irVersion: number;
  opsetImport: OpsetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: Graph;
  metadataProps: KeyValue[];
  unknown: Uint8Array[];
}

// ---------- decoding ----------

const keyValue = (b: Uint8Array): KeyValue => {
  const kv = { key: '', value: '' };
  for (const f of readFields(b)) {
    if (f.field === 1) kv.key = asString(f);
    else if (f.field === 2) kv.value = asString(f);
  }
  return kv;
};

/** Reads only a TensorProto's header; the data stays in `bytes`. */
export const decodeTensor = (b: Uint8Array): TensorProto => {
  const t: TensorProto = { name: '', dataType: 0, dims: [], bytes: b };
  let externalLocation = false;
  const ext: KeyValue[] = [];
  for (const f of readFields(b)) {
    if (f.field === 1)
      for (const d of asPackedInts(f)) t.dims.push(d); // a loop: spreading 1 M values overflows
    else if (f.field === 2) t.dataType = asInt(f);
    else if (f.field === 8) t.name = asString(f);
    else if (f.field === 13) ext.push(keyValue(asBytes(f)));
    else if (f.field === 14) externalLocation = asInt(f) === 1;
  }
  if (externalLocation) t.external = ext;
  return t;
};

const decodeTensorType = (b: Uint8Array): TensorType => {
  const tt: TensorType = { elemType: 0, shape: null };
  for (const f of readFields(b)) {
    if (f.field === 1) tt.elemType = asInt(f);
    else if (f.field === 2) {
      tt.shape = readFields(asBytes(f))
        .filter((d) => d.field === 1)
        .map((d) => {
          let dim: Dim = null;
          for (const x of readFields(asBytes(d))) {
            if (x.field === 1) dim = asInt(x);
            else if (x.field === 2) dim = asString(x);
          }
          return dim;
        });
    }
  }
  return tt;
};

const decodeValueInfo = (b: Uint8Array): ValueInfo => {
  const v: ValueInfo = { name: '', unknown: [] };
  for (const f of readFields(b)) {
    if (f.field === 1) v.name = asString(f);
    else if (f.field === 2) {
      // Only tensor types are interpreted; sequences, maps and optionals are kept raw.
      const inner = readFields(asBytes(f));
      const tensor = inner.find((x) => x.field === 1);
      if (tensor && inner.length === 1) v.type = decodeTensorType(asBytes(tensor));
      else v.unknown.push(f.raw);
    } else v.unknown.push(f.raw);
  }
  return v;
};

const decodeAttribute = (b: Uint8Array, depth: number): Attribute => {
  const a: Attribute = { name: '', type: 0, unknown: [] };
  // In place: a repeated field may come one value per field, and copying the list each time is quadratic.
  const push = <K extends 'floats' | 'ints' | 'strings' | 'tensors' | 'graphs'>(k: K, v: NonNullable<Attribute[K]>) => {
    const list = (a[k] ??= [] as NonNullable<Attribute[K]>) as unknown[];
    for (const x of v) list.push(x);
  };
  for (const f of readFields(b)) {
    switch (f.field) {
      case 1:
        a.name = asString(f);
        break;
      case 20:
        a.type = asInt(f);
        break;
      case 2:
        a.f = asFloat(f);
        break;
      case 3:
        a.i = asInt(f);
        break;
      case 4:
        a.s = asBytes(f);
        break;
      case 5:
        a.t = decodeTensor(asBytes(f));
        break;
      case 6:
        a.g = decodeGraph(asBytes(f), depth + 1);
        break;
      case 7:
        push('floats', asPackedFloats(f));
        break;
      case 8:
        push('ints', asPackedInts(f));
        break;
      case 9:
        push('strings', [asBytes(f)]);
        break;
      case 10:
        push('tensors', [decodeTensor(asBytes(f))]);
        break;
      case 11:
        push('graphs', [decodeGraph(asBytes(f), depth + 1)]);
        break;
      default:
        a.unknown.push(f.raw);
    }
  }
  return a;
};

const decodeNode = (b: Uint8Array, depth: number): Node => {
  const n: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [], unknown: [] };
  for (const f of readFields(b)) {
    switch (f.field) {
      case 1:
        n.inputs.push(asString(f));
        break;
      case 2:
        n.outputs.push(asString(f));
        break;
      case 3:
        n.name = asString(f);
        break;
      case 4:
        n.opType = asString(f);
        break;
      case 7:
        n.domain = asString(f);
        break;
      case 5:
        n.attributes.push(decodeAttribute(asBytes(f), depth));
        break;
      default:
        n.unknown.push(f.raw);
    }
  }
  return n;
};

/**
 * Decodes a GraphProto; `depth` counts the graphs around it (subgraphs of If, Loop, Scan), which the reader
 * recurses into, so a hostile nesting is refused before it exhausts the stack.
 */
export const decodeGraph = (b: Uint8Array, depth = 0): Graph => {
  if (depth > limits.onnxGraphDepth)
    throw new PipelineError('bad_model', `ONNX graph nests subgraphs deeper than ${limits.onnxGraphDepth} levels`);
  const g: Graph = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [], unknown: [] };
  for (const f of readFields(b)) {
    switch (f.field) {
      case 1:
        g.nodes.push(decodeNode(asBytes(f), depth));
        break;
      case 2:
        g.name = asString(f);
        break;
      case 5:
        g.initializers.push(decodeTensor(asBytes(f)));
        break;
      case 11:
        g.inputs.push(decodeValueInfo(asBytes(f)));
        break;
      case 12:
        g.outputs.push(decodeValueInfo(asBytes(f)));
        break;
      case 13:
        g.valueInfo.push(decodeValueInfo(asBytes(f)));
        break;
      default:
        g.unknown.push(f.raw);
    }
  }
  return g;
};

/** Decodes a whole .onnx file. The returned model holds views into `bytes`: keep it alive while you use them. */
export const decodeModel = (bytes: Uint8Array): Model => {
  const m: Model = {
    irVersion: 0,
    opsetImport: [],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: emptyGraph(),
    metadataProps: [],
    unknown: [],
  };
  for (const f of readFields(bytes)) {
    switch (f.field) {
      case 1:
        m.irVersion = asInt(f);
        break;
      case 2:
        m.producerName = asString(f);
        break;
      case 3:
        m.producerVersion = asString(f);
        break;
      case 4:
        m.domain = asString(f);
        break;
      case 5:
        m.modelVersion = asInt(f);
        break;
      case 6:
        m.docString = asString(f);
        break;
      case 7:
        m.graph = decodeGraph(asBytes(f));
        break;
      case 8: {
        const o: OpsetId = { domain: '', version: 0 };
        for (const x of readFields(asBytes(f))) {
          if (x.field === 1) o.domain = asString(x);
          else if (x.field === 2) o.version = asInt(x);
        }
        m.opsetImport.push(o);
        break;
      }
      case 14:
        m.metadataProps.push(keyValue(asBytes(f)));
        break;
      default:
        m.unknown.push(f.raw);
    }
  }
  return m;
};

export const emptyGraph = (name = ''): Graph => ({
  name,
  nodes: [],
  initializers: [],
  inputs: [],
  outputs: [],
  valueInfo: [],
  unknown: [],
});

// ---------- encoding ----------

const writeKeyValue = (w: Writer, field: number, kv: KeyValue) =>
  w.message(field, (x) => {
    x.string(1, kv.key);
    x.string(2, kv.value);
  });

const writeValueInfo = (w: Writer, v: ValueInfo) => {
  w.string(1, v.name);
  if (v.type) {
    const t = v.type;
    w.message(2, (tp) =>
      tp.message(1, (tt) => {
        tt.int(1, t.elemType);
        if (t.shape)
          tt.message(2, (sh) => {
            for (const d of t.shape!)
              sh.message(1, (dm) => {
                if (typeof d === 'number') dm.int(1, d);
                else if (typeof d === 'string') dm.string(2, d);
              });
          });
      }),
    );
  }
  for (const u of v.unknown) w.bytes(u);
};

const writeAttribute = (w: Writer, a: Attribute) => {
  w.string(1, a.name);
  w.int(20, a.type);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.int(3, a.i);
  if (a.s !== undefined) w.lenBytes(4, a.s);
  if (a.t !== undefined) w.lenBytes(5, a.t.bytes);
  if (a.g !== undefined) w.message(6, (x) => writeGraph(x, a.g!));
  if (a.floats?.length) w.packedFloats(7, a.floats);
  if (a.ints?.length) w.packedInts(8, a.ints);
  for (const s of a.strings ?? []) w.lenBytes(9, s);
  for (const t of a.tensors ?? []) w.lenBytes(10, t.bytes);
  for (const g of a.graphs ?? []) w.message(11, (x) => writeGraph(x, g));
  for (const u of a.unknown) w.bytes(u);
};

const writeNode = (w: Writer, n: Node) => {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  if (n.domain) w.string(7, n.domain);
  for (const a of n.attributes) w.message(5, (x) => writeAttribute(x, a));
  for (const u of n.unknown) w.bytes(u);
};

export const writeGraph = (w: Writer, g: Graph) => {
  for (const n of g.nodes) w.message(1, (x) => writeNode(x, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.lenBytes(5, t.bytes);
  for (const v of g.inputs) w.message(11, (x) => writeValueInfo(x, v));
  for (const v of g.outputs) w.message(12, (x) => writeValueInfo(x, v));
  for (const v of g.valueInfo) w.message(13, (x) => writeValueInfo(x, v));
  for (const u of g.unknown) w.bytes(u);
};

/** Encodes a model. Initializer bytes are written as they are; nothing about the weights is re-serialised. */
export const encodeModel = (m: Model): Uint8Array => {
  const w = new Writer();
  w.int(1, m.irVersion);
  for (const o of m.opsetImport)
    w.message(8, (x) => {
      if (o.domain) x.string(1, o.domain);
      x.int(2, o.version);
    });
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.domain) w.string(4, m.domain);
  if (m.modelVersion) w.int(5, m.modelVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (x) => writeGraph(x, m.graph));
  for (const kv of m.metadataProps) writeKeyValue(w, 14, kv);
  for (const u of m.unknown) w.bytes(u);
  return w.finish();
};

export type { RawField };
