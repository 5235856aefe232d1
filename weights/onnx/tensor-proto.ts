/**
 * Building TensorProtos from data and reading their values back. Values are read from raw_data, the typed
 * repeated fields (float_data, int32_data, int64_data…) or, for external data, through a caller-given reader.
 */
import { readFields, asBytes, asInt, asString, asPackedInts, asPackedFloats, readVarint, Writer } from './wire.ts';
import { DataType, decodeTensor, type TensorProto } from './proto.ts';
import { tensor, sizeOf, type DType, type Tensor, type TensorData } from '../../common/tensor.ts';
import { PipelineError } from '../../common/errors.ts';

const toOnnx: Record<DType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  bool: DataType.BOOL,
  float64: DataType.DOUBLE,
};
const fromOnnx = new Map<number, DType>(Object.entries(toOnnx).map(([k, v]) => [v, k as DType]));

/** ONNX element type number for one of our dtypes. */
export const onnxTypeOf = (d: DType): number => toOnnx[d];

/** Our dtype for an ONNX element type, or a clear error for the ones we do not carry (string, bfloat16…). */
export const dtypeOf = (elemType: number, what = 'tensor'): DType => {
  const d = fromOnnx.get(elemType);
  if (!d)
    throw new PipelineError('bad_model', `${what} has ONNX element type ${elemType}, which pseudoword does not handle`);
  return d;
};

const ctor = {
  float32: Float32Array,
  float16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  bool: Uint8Array,
  float64: Float64Array,
} as const;

/** Encodes a tensor as a TensorProto with raw_data (little-endian, as ONNX requires). */
export const makeTensorProto = (name: string, t: Tensor): TensorProto => {
  const w = new Writer();
  w.packedInts(1, t.dims as number[]);
  w.int(2, toOnnx[t.dtype]);
  w.string(8, name);
  const d = t.data as ArrayBufferView;
  w.lenBytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
  return decodeTensor(w.finish());
};

/** A TensorProto whose data lives in an external file, for writing big models the way exporters do. */
export const makeExternalTensorProto = (
  name: string,
  dtype: DType,
  dims: readonly number[],
  location: string,
  offset: number,
  length: number,
): TensorProto => {
  const w = new Writer();
  w.packedInts(1, dims as number[]);
  w.int(2, toOnnx[dtype]);
  w.string(8, name);
  for (const [key, value] of [
    ['location', location],
    ['offset', String(offset)],
    ['length', String(length)],
  ])
    w.message(13, (x) => {
      x.string(1, key);
      x.string(2, value);
    });
  w.int(14, 1);
  return decodeTensor(w.finish());
};

/** Renames a TensorProto, keeping every other field (and the data) byte for byte. */
export const renameTensorProto = (t: TensorProto, name: string): TensorProto => {
  const w = new Writer();
  for (const f of readFields(t.bytes)) if (f.field !== 8) w.bytes(f.raw);
  w.string(8, name);
  return decodeTensor(w.finish());
};

/** Reads an external file's bytes: (location, offset, length) → bytes. Supplied by an adapter. */
export type ExternalReader = (location: string, offset: number, length: number) => Uint8Array;

/** Decodes a TensorProto's values into our Tensor. */
export const readTensorProto = (t: TensorProto, external?: ExternalReader): Tensor => {
  const dtype = dtypeOf(t.dataType, `initializer '${t.name}'`);
  const n = sizeOf(t.dims);
  if (t.external) {
    if (!external) throw new PipelineError('bad_model', `initializer '${t.name}' is external and no reader was given`);
    const kv = Object.fromEntries(t.external.map((e) => [e.key, e.value]));
    const bytes = external(kv.location, Number(kv.offset ?? 0), Number(kv.length ?? n * ctor[dtype].BYTES_PER_ELEMENT));
    return fromRaw(dtype, t.dims, bytes);
  }
  let raw: Uint8Array | undefined;
  const ints: number[] = [];
  const floats: number[] = [];
  const bigs: bigint[] = [];
  let doubles: number[] = [];
  for (const f of readFields(t.bytes)) {
    if (f.field === 9) raw = asBytes(f);
    else if (f.field === 4) floats.push(...asPackedFloats(f));
    else if (f.field === 5) ints.push(...asPackedInts(f));
    else if (f.field === 7) {
      if (f.wire === 0) bigs.push(BigInt.asIntN(64, f.value as bigint));
      else
        for (let b = asBytes(f), p = 0; p < b.length; ) {
          const [v, np] = readVarint(b, p);
          bigs.push(BigInt.asIntN(64, v));
          p = np;
        }
    } else if (f.field === 10) {
      const b = asBytes(f);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      doubles = Array.from({ length: b.byteLength / 8 }, (_, i) => dv.getFloat64(i * 8, true));
    }
  }
  if (raw) return fromRaw(dtype, t.dims, raw);
  switch (dtype) {
    case 'float32':
      return tensor(dtype, t.dims, Float32Array.from(floats.length ? floats : new Array(n).fill(0)));
    case 'int64':
      return tensor(dtype, t.dims, BigInt64Array.from(bigs.length ? bigs : new Array(n).fill(0n)));
    case 'float64':
      return tensor(dtype, t.dims, Float64Array.from(doubles.length ? doubles : new Array(n).fill(0)));
    // int32_data carries int32, int8, uint8, bool and float16 bit patterns alike.
    default:
      return tensor(dtype, t.dims, (ctor[dtype] as any).from(ints.length ? ints : new Array(n).fill(0)));
  }
};

const fromRaw = (dtype: DType, dims: readonly number[], bytes: Uint8Array): Tensor => {
  const C = ctor[dtype];
  // Copy so the typed array is aligned and independent of the file buffer.
  const copy = bytes.slice();
  return tensor(dtype, dims, new C(copy.buffer, 0, copy.byteLength / C.BYTES_PER_ELEMENT) as TensorData[typeof dtype]);
};

export { asInt, asString };

/** Points an external TensorProto at another file, keeping dims, type, name, offset and length as they are. */
export const relocateExternalTensorProto = (t: TensorProto, location: string): TensorProto => {
  if (!t.external) return t;
  const w = new Writer();
  for (const f of readFields(t.bytes)) {
    if (f.field === 13) {
      const kv = readFields(asBytes(f));
      const key = asString(kv.find((x) => x.field === 1)!);
      if (key === 'location') {
        w.message(13, (x) => {
          x.string(1, 'location');
          x.string(2, location);
        });
        continue;
      }
    }
    w.bytes(f.raw);
  }
  return decodeTensor(w.finish());
};
