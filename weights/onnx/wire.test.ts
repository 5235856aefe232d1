import { describe, expect, test } from 'bun:test';
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';
import { decodeModel } from './proto.ts';
import { readFields, readVarint, Writer } from './wire.ts';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof PipelineError ? [e.code, e.message] : ['not a PipelineError', String(e)];
  }
  return ['no error'];
};

/** A message with one length-delimited field `field` holding `body`. */
const wrap = (field: number, body: Uint8Array) => {
  const w = new Writer();
  w.lenBytes(field, body);
  return w.finish();
};

const varint = (n: number) => {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  return [...out, n];
};
/** Empty messages nested as the fields say, outermost first, written front to back (wrapping would copy). */
const nested = (fields: number[]) => {
  const lengths = new Array<number>(fields.length);
  for (let i = fields.length - 1, inner = 0; i >= 0; i--) {
    lengths[i] = inner;
    inner += 1 + varint(inner).length;
  }
  return Uint8Array.from(fields.flatMap((f, i) => [(f << 3) | 2, ...varint(lengths[i])]));
};

describe('reading hostile protobuf', () => {
  test('refuses a varint longer than 10 bytes instead of growing a bigint over a megabyte of 0xff', () => {
    const b = new Uint8Array(2 ** 20).fill(0xff);
    b[0] = 0x08; // ModelProto.ir_version, a varint
    expect(refusal(() => decodeModel(b))).toEqual([
      'bad_model',
      'ONNX protobuf: varint at byte 1 is longer than 10 bytes',
    ]);
    expect(readVarint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 0)[0]).toBe(
      2n ** 64n - 1n,
    );
  });

  test('refuses a length-delimited field claiming 2^31 bytes without allocating them', () => {
    // Field 7 (graph), wire 2, length varint 2^31, then 3 bytes.
    const b = Uint8Array.of(0x3a, 0x80, 0x80, 0x80, 0x80, 0x08, 1, 2, 3);
    expect(refusal(() => decodeModel(b))).toEqual([
      'bad_model',
      'ONNX protobuf: field 7 claims 2147483648 bytes, 3 follow',
    ]);
  });

  test('refuses truncated values, field number 0, group wire types and a field of the wrong wire type', () => {
    expect(refusal(() => readFields(Uint8Array.of(0x08)))).toEqual([
      'bad_model',
      'ONNX protobuf: truncated varint at byte 1',
    ]);
    expect(refusal(() => readFields(Uint8Array.of(0x00, 0x01)))[1]).toBe('ONNX protobuf: field number 0 at byte 0');
    expect(refusal(() => readFields(Uint8Array.of(0x0b)))[1]).toBe('ONNX protobuf: unsupported wire type 3 in field 1');
    // ir_version (field 1) sent as bytes, producer_name (field 2) sent as a varint.
    expect(refusal(() => decodeModel(Uint8Array.of(0x0a, 0x00)))[1]).toBe(
      'ONNX protobuf: field 1 has wire type 2, expected 0',
    );
    expect(refusal(() => decodeModel(Uint8Array.of(0x10, 0x01)))[1]).toBe(
      'ONNX protobuf: field 2 has wire type 0, expected 2',
    );
  });

  test(`refuses subgraphs nested deeper than ${limits.onnxGraphDepth} levels before the stack runs out`, () => {
    // model → graph (field 7) → node (GraphProto 1) → attribute (NodeProto 5) → graph (AttributeProto 6) → …
    expect(refusal(() => decodeModel(nested([7, ...new Array(20_000).fill([1, 5, 6]).flat()])))).toEqual([
      'bad_model',
      `ONNX graph nests subgraphs deeper than ${limits.onnxGraphDepth} levels`,
    ]);
  });

  test('reads 200 000 unpacked ints of one attribute in order (appended in place, not copied per value)', () => {
    const attr = new Writer();
    attr.string(1, 'pads');
    for (let i = 0; i < 200_000; i++) attr.int(8, i % 100);
    const model = wrap(7, wrap(1, wrap(5, attr.finish())));
    const ints = decodeModel(model).graph.nodes[0].attributes[0].ints!;
    expect([ints.length, ints[0], ints[199_999]]).toEqual([200_000, 0, 99]);
  });
});
