import { describe, expect, test } from 'bun:test';
import { PipelineError } from '../../common/errors.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { errorOf } from '../../test/support/error-of.ts';

/** A safetensors file assembled by hand: u64 LE header length, the header padded with spaces, the data. */
const assemble = (header: string, data: number[]): Uint8Array => {
  const json = new TextEncoder().encode(header);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length);
  out[0] = padded & 0xff;
  out[1] = padded >> 8;
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
};
/** Little-endian bytes of float32 values, via the platform's own encoder. */
const f32Bytes = (...v: number[]) => [...new Uint8Array(Float32Array.from(v).buffer)];
const u16Bytes = (...v: number[]) => v.flatMap((x) => [x & 0xff, x >> 8]);

describe('reading safetensors', () => {
  test('reads a hand-assembled F32 file with its metadata', () => {
    const header = '{"__metadata__":{"format":"pt"},"<tok>":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}';
    const f = readSafetensors(assemble(header, f32Bytes(1, -2, 0.5, 3, 4.25, -6)), 'x.safetensors');
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors).toEqual([{ name: '<tok>', dtype: 'F32', shape: [2, 3], begin: 0, end: 24 }]);
    expect(Array.from(f.float32('<tok>'))).toEqual([1, -2, 0.5, 3, 4.25, -6]);
  });

  test('decodes F16 and BF16 bit patterns to their float values', () => {
    // F16: 0x3C00 = 1, 0xC000 = −2, 0x3555 = 0.333251953125, 0x7BFF = 65504 (largest half).
    // BF16: 0x3F80 = 1, 0xC040 = −3, 0x4049 = 3.140625.
    const header =
      '{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}';
    const f = readSafetensors(
      assemble(header, [...u16Bytes(0x3c00, 0xc000, 0x3555, 0x7bff), ...u16Bytes(0x3f80, 0xc040, 0x4049)]),
    );
    expect(Array.from(f.float32('h'))).toEqual([1, -2, 0.333251953125, 65504]);
    expect(Array.from(f.float32('b'))).toEqual([1, -3, 3.140625]);
    expect(f.metadata).toEqual({});
  });

  test('refuses to decode an integer tensor as floats', () => {
    const f = readSafetensors(
      assemble('{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', [1, 0, 0, 0, 0, 0, 0, 0]),
      'ids.safetensors',
    );
    const e = errorOf(() => f.float32('i'));
    expect([e.code, e.message]).toEqual(['bad_embedding', "ids.safetensors: tensor 'i' is I64, not a float tensor"]);
  });
});

describe('refusing broken safetensors', () => {
  const good = assemble('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32Bytes(1, 2));
  const cases: Array<[string, Uint8Array, string]> = [
    [
      'a file shorter than the length field',
      good.subarray(0, 5),
      'e.safetensors: truncated: 5 bytes, too short for a safetensors header',
    ],
    [
      'a header cut short',
      good.subarray(0, 20),
      'e.safetensors: truncated: the header says 56 bytes but only 12 follow',
    ],
    [
      'data cut short',
      good.subarray(0, good.length - 1),
      "e.safetensors: truncated: tensor 't' ends at byte 8 of a 7-byte data buffer",
    ],
    [
      'a header that is not JSON',
      assemble('{"t":', []),
      'e.safetensors: not a safetensors file (its header is not JSON',
    ],
    [
      'an implausible header length',
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x7b),
      'e.safetensors: not a safetensors file (header length',
    ],
    [
      'offsets that do not fit the shape',
      assemble('{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32Bytes(1, 2)),
      "e.safetensors: tensor 't' (F32 [3]) needs 12 bytes but its offsets span 8",
    ],
    [
      'an unknown dtype',
      assemble('{"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', f32Bytes(1, 2)),
      'e.safetensors: tensor \'t\' has unknown dtype "F33"',
    ],
    [
      'a dtype named after an Object.prototype member',
      assemble('{"t":{"dtype":"constructor","shape":[2],"data_offsets":[0,8]}}', f32Bytes(1, 2)),
      'e.safetensors: tensor \'t\' has unknown dtype "constructor"',
    ],
    [
      'two tensors whose data_offsets overlap',
      assemble(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
        f32Bytes(1, 2, 3),
      ),
      "e.safetensors: tensors 'a' and 'b' overlap (bytes 4–8)",
    ],
    [
      'two tensors sharing the same bytes',
      assemble(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}',
        f32Bytes(1, 2),
      ),
      "e.safetensors: tensors 'a' and 'b' overlap",
    ],
    [
      'a shape whose byte count is past 2^53',
      assemble('{"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', f32Bytes(1, 2)),
      "e.safetensors: tensor 't' (F64 [4294967296, 4294967296]) needs",
    ],
  ];
  for (const [what, bytes, message] of cases)
    test(`refuses ${what} with a bad_embedding error naming the file`, () => {
      const e = errorOf(() => readSafetensors(bytes, 'e.safetensors'));
      expect(e).toBeInstanceOf(PipelineError);
      expect(e.code).toBe('bad_embedding');
      expect(e.message.startsWith(message)).toBe(true);
    });
});

describe('writing safetensors', () => {
  test('writes exactly the bytes of the reference layout: metadata first, widest dtype first, padded header', () => {
    const got = writeSafetensors(
      {
        h: { shape: [2], data: Float32Array.of(1, -2), dtype: 'F16' },
        '<tok>': { shape: [1, 2], data: Float32Array.of(0.5, 3) },
      },
      { format: 'pt' },
    );
    const header =
      '{"__metadata__":{"format":"pt"},"<tok>":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}';
    expect(Array.from(got)).toEqual(Array.from(assemble(header, [...f32Bytes(0.5, 3), ...u16Bytes(0x3c00, 0xc000)])));
  });

  test('keeps an integer-like name where the layout puts it, not where JSON key order would', () => {
    // F32 before F16 puts 'b' first; JSON.stringify would have moved '0' to the front of the header.
    const got = writeSafetensors({
      b: { shape: [1], data: Float32Array.of(1) },
      '0': { shape: [1], data: Float32Array.of(2), dtype: 'F16' },
    });
    const header = new TextDecoder().decode(got.subarray(8, 8 + got[0]));
    expect(header.indexOf('"b"')).toBeLessThan(header.indexOf('"0"'));
    const f = readSafetensors(got);
    expect(f.tensors.map((t) => [t.name, t.begin, t.end])).toEqual([
      ['b', 0, 4],
      ['0', 4, 6],
    ]);
    expect([f.float32('0')[0], f.float32('b')[0]]).toEqual([2, 1]);
  });

  test('round-trips float32 exactly and float16 to the nearest half', () => {
    const data = Float32Array.of(0.1, -1e-3, 12345.678, 0);
    const f = readSafetensors(writeSafetensors({ a: { shape: [4], data }, b: { shape: [2, 2], data, dtype: 'F16' } }));
    expect(f.float32('a')).toEqual(data);
    // Halves nearest to the values: 0.0999755859375, −0.0010004043579101562, 12344, 0.
    expect(Array.from(f.float32('b'))).toEqual([0.0999755859375, -0.0010004043579101562, 12344, 0]);
  });
});
