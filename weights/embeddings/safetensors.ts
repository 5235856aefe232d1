/**
 * The safetensors container (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON `{ "<name>": { "dtype", "shape", "data_offsets": [begin, end] }, "__metadata__"?: { str: str } }`,
 * then the data buffer the offsets point into. Writing follows the reference serializer: compact JSON,
 * `__metadata__` first, tensors ordered by element size (widest first) then name, packed back to back, and the
 * header padded with spaces to a multiple of 8 bytes so the data starts aligned.
 */
import { PipelineError } from '../../common/errors.ts';
import { fromHalf, toHalf } from '../../common/numerics/half.ts';
import { limits } from '../../common/limits.ts';

/** Bytes per element of every dtype the format names (read for validation; only floats are decoded). */
const elementSize: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** One tensor's header entry; `begin`/`end` are byte offsets into the data buffer. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** A parsed file: its metadata, its tensors' header entries, and a float decoder. */
export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: SafetensorsEntry[];
  /** The tensor's values as float32 (F32, F16, BF16 and F64 only). */
  float32(name: string): Float32Array;
}

/** A tensor to write: float32 values stored as F32 (default) or F16. */
export interface SafetensorsTensor {
  shape: readonly number[];
  data: Float32Array;
  dtype?: 'F32' | 'F16';
}

const bad = (what: string, message: string) => new PipelineError('bad_embedding', `${what}: ${message}`);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

const parseHeader = (bytes: Uint8Array, what: string): { json: Record<string, unknown>; dataStart: number } => {
  if (bytes.byteLength < 8) throw bad(what, `truncated: ${bytes.byteLength} bytes, too short for a safetensors header`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(limits.safetensorsHeaderBytes))
    throw bad(what, `not a safetensors file (header length ${n} is implausible)`);
  if (Number(n) > bytes.byteLength - 8)
    throw bad(what, `truncated: the header says ${n} bytes but only ${bytes.byteLength - 8} follow`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + Number(n))));
  } catch (e) {
    throw bad(what, `not a safetensors file (its header is not JSON: ${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw bad(what, 'not a safetensors file (its header is not a JSON object)');
  return { json: json as Record<string, unknown>, dataStart: 8 + Number(n) };
};

const parseEntry = (name: string, v: unknown, dataLength: number, what: string): SafetensorsEntry => {
  const e = (v ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  // Own keys only: 'constructor' or 'toString' must not find Object.prototype's.
  const size = typeof e.dtype === 'string' && Object.hasOwn(elementSize, e.dtype) ? elementSize[e.dtype] : undefined;
  if (!size) throw bad(what, `tensor '${name}' has unknown dtype ${JSON.stringify(e.dtype)}`);
  if (!Array.isArray(e.shape) || !e.shape.every(isCount))
    throw bad(what, `tensor '${name}' has a malformed shape ${JSON.stringify(e.shape)}`);
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount) || off[0] > off[1])
    throw bad(what, `tensor '${name}' has malformed data_offsets ${JSON.stringify(off)}`);
  const shape = e.shape as number[];
  const [begin, end] = off as number[];
  const want = shape.reduce((a, b) => a * b, 1) * size;
  if (!Number.isSafeInteger(want) || end - begin !== want)
    throw bad(
      what,
      `tensor '${name}' (${e.dtype} [${shape.join(', ')}]) needs ${want} bytes but its offsets span ${end - begin}`,
    );
  if (end > dataLength)
    throw bad(what, `truncated: tensor '${name}' ends at byte ${end} of a ${dataLength}-byte data buffer`);
  return { name, dtype: e.dtype as string, shape, begin, end };
};

/**
 * Refuses tensors whose bytes overlap (sorted by `begin`): each tensor owns its range, as the reference reader
 * requires, so no write through one tensor can change another and no byte is counted twice. Empty tensors own
 * nothing and may sit anywhere.
 */
const checkDisjoint = (sorted: SafetensorsEntry[], what: string) => {
  let last: SafetensorsEntry | undefined;
  for (const t of sorted) {
    if (t.begin === t.end) continue;
    if (last && t.begin < last.end)
      throw bad(what, `tensors '${last.name}' and '${t.name}' overlap (bytes ${t.begin}–${last.end})`);
    last = t;
  }
};

const parseMetadata = (v: unknown, what: string): Record<string, string> => {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, '__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    // The format says string → string; numbers written by lenient tools are kept as their text.
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')
      throw bad(what, `__metadata__.${k} is not a string`);
    out[k] = String(x);
  }
  return out;
};

const decodeFloats = (view: DataView, dtype: string, n: number): Float32Array => {
  const out = new Float32Array(n);
  // DataView reads little-endian at any offset: the data buffer need not be aligned in memory.
  if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = fromHalf(view.getUint16(i * 2, true));
  else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < n; i++) bits.setUint32(0, view.getUint16(i * 2, true) << 16), (out[i] = bits.getFloat32(0));
  } else if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
};

/**
 * Parses a safetensors file; tensors are decoded on demand. `what` names the file in error messages.
 * @example
 * const f = readSafetensors(bytes, 'learned_embeds.safetensors');
 * f.metadata.format // 'pt'
 * f.float32(f.tensors[0].name) // Float32Array of n × 768
 */
export const readSafetensors = (bytes: Uint8Array, what = 'safetensors file'): SafetensorsFile => {
  const { json, dataStart } = parseHeader(bytes, what);
  const dataLength = bytes.byteLength - dataStart;
  const tensors = Object.entries(json)
    .filter(([k]) => k !== '__metadata__')
    .map(([k, v]) => parseEntry(k, v, dataLength, what))
    .sort((a, b) => a.begin - b.begin); // file order: JSON.parse moves integer-like names to the front
  checkDisjoint(tensors, what);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    metadata: parseMetadata(json.__metadata__, what),
    tensors,
    float32(name) {
      const t = byName.get(name);
      if (!t) throw bad(what, `has no tensor '${name}'`);
      if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype))
        throw bad(what, `tensor '${name}' is ${t.dtype}, not a float tensor`);
      const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + t.begin, t.end - t.begin);
      return decodeFloats(view, t.dtype, (t.end - t.begin) / elementSize[t.dtype]);
    },
  };
};

/**
 * Writes tensors (and optional string metadata) as a safetensors file.
 * @example
 * writeSafetensors({ '<cat-toy>': { shape: [1, 768], data } }, { format: 'pt' })
 */
export const writeSafetensors = (
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array => {
  const names = Object.keys(tensors).sort((a, b) => {
    const size = (n: string) => ((tensors[n].dtype ?? 'F32') === 'F32' ? 4 : 2);
    return size(b) - size(a) || (a < b ? -1 : a > b ? 1 : 0);
  });
  const parts: string[] = metadata ? [`"__metadata__":${JSON.stringify(metadata)}`] : [];
  let offset = 0;
  const placed = names.map((name) => {
    const { shape, data, dtype = 'F32' } = tensors[name];
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new PipelineError(
        'bad_embedding',
        `tensor '${name}' has ${data.length} values but shape [${shape.join(', ')}] needs ${n}`,
      );
    const begin = offset;
    offset += n * elementSize[dtype];
    // Built by hand: JSON.stringify would move integer-like names ("0") ahead of the others.
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${offset}]}`,
    );
    return { begin, data, dtype };
  });
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  const start = 8 + headerLength;
  for (const { begin, data, dtype } of placed) {
    if (dtype === 'F32') data.forEach((v, i) => view.setFloat32(start + begin + i * 4, v, true));
    else data.forEach((v, i) => view.setUint16(start + begin + i * 2, toHalf(v), true));
  }
  return out;
};
