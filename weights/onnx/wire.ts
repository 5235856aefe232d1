/**
 * Protocol-buffers wire format, just enough to read and write ONNX files without a generated codec.
 * We keep our own because the npm ONNX codecs are generated from old onnx.proto versions and drop fields they do
 * not know on re-encode; here every field we do not interpret is kept as its raw bytes and written back as is.
 * Reading is total: any byte string ends in fields or a `PipelineError('bad_model')`, with no allocation beyond
 * the fields' list (values are views into the input).
 */
import { PipelineError } from '../../common/errors.ts';

/** One field as it sits on the wire: its number, wire type and the bytes of its value (varint or payload). */
export interface RawField {
  readonly field: number;
  readonly wire: 0 | 1 | 2 | 5;
  /** For wire 0: the varint value as bigint; for 1/2/5: the payload bytes (a view, never a copy). */
  readonly value: bigint | Uint8Array;
  /** The whole field (tag + value) as it was read, for writing back untouched. */
  readonly raw: Uint8Array;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A message that cannot be read: every reading failure is this, never a RangeError or TypeError. */
const bad = (message: string) => new PipelineError('bad_model', `ONNX protobuf: ${message}`);

/**
 * Reads a varint at `pos`; returns [value as unsigned 64-bit bigint, next position]. A varint is at most 10
 * bytes (64 bits in 7-bit groups); a longer run of continuation bytes is refused rather than shifted into an
 * ever larger bigint, which would make a megabyte of 0x80 bytes cost minutes.
 */
export const readVarint = (buf: Uint8Array, pos: number): [bigint, number] => {
  // Fast path for values below 2^28, which is nearly every tag, length and small int.
  let lo = 0;
  let shift = 0;
  let i = pos;
  for (; i < buf.length && shift < 28; i++, shift += 7) {
    const b = buf[i];
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) return [BigInt(lo >>> 0), i + 1];
  }
  let v = BigInt(lo >>> 0);
  let s = BigInt(shift);
  for (; i < buf.length && i < pos + 10; i++, s += 7n) {
    const b = buf[i];
    v |= BigInt(b & 0x7f) << s;
    if (b < 0x80) return [BigInt.asUintN(64, v), i + 1];
  }
  throw bad(i < buf.length ? `varint at byte ${pos} is longer than 10 bytes` : `truncated varint at byte ${pos}`);
};

/** Splits a message into its fields, in order. Views only: nothing is copied. */
export const readFields = (buf: Uint8Array): RawField[] => {
  const out: RawField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [tag, p1] = readVarint(buf, pos);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (field === 0) throw bad(`field number 0 at byte ${start}`);
    let value: bigint | Uint8Array;
    if (wire === 0) [value, pos] = readVarint(buf, p1);
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (p1 + n > buf.length) throw bad(`truncated fixed${n * 8} in field ${field}`);
      value = buf.subarray(p1, p1 + n);
      pos = p1 + n;
    } else if (wire === 2) {
      // The length is checked against the bytes that are there, so a claimed 2^63 allocates nothing.
      const [len, p2] = readVarint(buf, p1);
      if (len > BigInt(buf.length - p2)) throw bad(`field ${field} claims ${len} bytes, ${buf.length - p2} follow`);
      value = buf.subarray(p2, p2 + Number(len));
      pos = p2 + Number(len);
    } else throw bad(`unsupported wire type ${wire} in field ${field}`);
    out.push({ field, wire: wire as 0 | 1 | 2 | 5, value, raw: buf.subarray(start, pos) });
  }
  return out;
};

/** The field's value, refusing a wire type the schema does not allow for it (a varint where bytes belong…). */
const expectWire = (f: RawField, ...wires: number[]) => {
  if (!wires.includes(f.wire)) throw bad(`field ${f.field} has wire type ${f.wire}, expected ${wires.join(' or ')}`);
  return f.value;
};

export const asBytes = (f: RawField): Uint8Array => expectWire(f, 2) as Uint8Array;
export const asString = (f: RawField): string => decoder.decode(asBytes(f));
/** int64/int32 fields are two's complement in 64 bits; numbers beyond 2^53 lose precision (none in ONNX headers). */
export const asInt = (f: RawField): number => Number(BigInt.asIntN(64, expectWire(f, 0) as bigint));
export const asFloat = (f: RawField): number => {
  const b = expectWire(f, 5) as Uint8Array;
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
};

/** Reads a packed (or single, unpacked) repeated int64 field's values. */
export const asPackedInts = (f: RawField): number[] => {
  if (f.wire === 0) return [asInt(f)];
  const b = asBytes(f);
  const out: number[] = [];
  for (let p = 0; p < b.length; ) {
    const [v, np] = readVarint(b, p);
    out.push(Number(BigInt.asIntN(64, v)));
    p = np;
  }
  return out;
};

export const asPackedFloats = (f: RawField): number[] => {
  if (f.wire === 5) return [asFloat(f)];
  const b = asBytes(f);
  if (b.byteLength % 4) throw bad(`packed floats in field ${f.field} are ${b.byteLength} bytes, not a multiple of 4`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.byteLength / 4 }, (_, i) => dv.getFloat32(i * 4, true));
};

/** Growable byte sink for writing messages. */
export class Writer {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1024);
  private n = 0;
  length = 0;

  private ensure(k: number) {
    if (this.n + k <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.n));
    this.cur = new Uint8Array(Math.max(1024, k, this.cur.length * 2));
    this.n = 0;
  }
  byte(b: number) {
    this.ensure(1);
    this.cur[this.n++] = b;
    this.length++;
  }
  bytes(b: Uint8Array) {
    if (b.length > 4096) {
      // Large payloads (raw tensors) are referenced, not copied, until finish().
      this.chunks.push(this.cur.subarray(0, this.n), b);
      this.cur = new Uint8Array(1024);
      this.n = 0;
    } else {
      this.ensure(b.length);
      this.cur.set(b, this.n);
      this.n += b.length;
    }
    this.length += b.length;
  }
  varint(v: bigint | number) {
    let x = typeof v === 'bigint' ? BigInt.asUintN(64, v) : v;
    if (typeof x === 'number' && x >= 0 && x < 2 ** 31) {
      while (x > 0x7f) {
        this.byte((x & 0x7f) | 0x80);
        x >>>= 7;
      }
      this.byte(x);
      return;
    }
    let b = typeof x === 'bigint' ? x : BigInt.asUintN(64, clampInt64(x));
    while (b > 0x7fn) {
      this.byte(Number(b & 0x7fn) | 0x80);
      b >>= 7n;
    }
    this.byte(Number(b));
  }
  tag(field: number, wire: number) {
    this.varint(field * 8 + wire);
  }
  int(field: number, v: number) {
    this.tag(field, 0);
    this.varint(v);
  }
  float(field: number, v: number) {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes(b);
  }
  lenBytes(field: number, b: Uint8Array) {
    this.tag(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field: number, s: string) {
    this.lenBytes(field, encoder.encode(s));
  }
  message(field: number, write: (w: Writer) => void) {
    const inner = new Writer();
    write(inner);
    this.lenBytes(field, inner.finish());
  }
  packedInts(field: number, vs: readonly number[]) {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    this.lenBytes(field, inner.finish());
  }
  packedFloats(field: number, vs: readonly number[]) {
    const b = new Uint8Array(vs.length * 4);
    const dv = new DataView(b.buffer);
    vs.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    this.lenBytes(field, b);
  }
  finish(): Uint8Array {
    if (this.chunks.length === 0) return this.cur.slice(0, this.n);
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const c of [...this.chunks, this.cur.subarray(0, this.n)]) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/** int64 attributes such as Slice's INT64_MAX arrive here as the float 2^63; keep them inside int64's range. */
const clampInt64 = (x: number): bigint => {
  if (x >= 2 ** 63) return 9223372036854775807n;
  if (x <= -(2 ** 63)) return -9223372036854775808n;
  return BigInt(Math.trunc(x));
};
