import { describe, expect, it } from 'bun:test';
import { encode } from '@msgpack/msgpack';
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';
import { decodeMsgpackValues, type MsgpackLimits } from './msgpack-stream.ts';

/** The bytes in chunks of `size`; pulling past `stopAfter` chunks throws, so a test sees how far a read got. */
async function* chunks(bytes: Uint8Array, size = bytes.length || 1, stopAfter = Infinity) {
  for (let at = 0, n = 0; at < bytes.length; at += size, n++) {
    if (n >= stopAfter) throw new Error(`read chunk ${n}, past the ${stopAfter} expected`);
    yield bytes.subarray(at, at + size);
  }
}
const values = async (source: AsyncIterable<Uint8Array>, l?: MsgpackLimits) => {
  const out: unknown[] = [];
  for await (const v of decodeMsgpackValues(source, l)) out.push(v);
  return out;
};
const refusal = (source: AsyncIterable<Uint8Array>, l?: MsgpackLimits) =>
  values(source, l).then(
    () => ['no error'],
    (e) => (e instanceof PipelineError ? [e.code, e.message] : ['not a PipelineError', String(e)]),
  );
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('decoding msgpack request bodies within limits', () => {
  it('decodes a stream of values split at any byte, bins intact after later chunks arrive', async () => {
    const bin = Uint8Array.from({ length: 70_000 }, (_, i) => i & 0xff);
    const body = concat(encode({ stages: ['a'] }), encode({ png: bin }), encode([1, [2, [3]]]));
    const got = await values(chunks(body, 1000));
    expect(got[0]).toEqual({ stages: ['a'] });
    expect((got[1] as { png: Uint8Array }).png).toEqual(bin);
    expect(got[2]).toEqual([1, [2, [3]]]);
  });

  it('refuses a bin claiming 4 GiB from its header alone, before reading on', async () => {
    const header = Uint8Array.of(0xc6, 0xff, 0xff, 0xff, 0xff, 0, 0, 0);
    expect(await refusal(chunks(header, 5, 1))).toEqual([
      'too_large',
      `msgpack value 0 is larger than ${limits.msgpackDescriptionBytes} bytes`,
    ]);
  });

  it('refuses arrays, maps and strings whose headers claim more than the length limits', async () => {
    const array = await refusal(chunks(Uint8Array.of(0xdd, 0x7f, 0xff, 0xff, 0xff)));
    expect(array).toEqual(['too_large', 'a msgpack array of 2147483647 elements is too large']);
    expect((await refusal(chunks(Uint8Array.of(0xdf, 0, 1, 0, 1))))[1]).toBe(
      'a msgpack map of 65537 elements is too large',
    );
    expect((await refusal(chunks(Uint8Array.of(0xdb, 0, 0x10, 0, 1))))[1]).toBe(
      'a msgpack str of 1048577 bytes is too large',
    );
  });

  it(`refuses nesting deeper than ${limits.msgpackDepth} levels`, async () => {
    const deep = new Uint8Array(limits.msgpackDepth + 2).fill(0x91); // [[[…]]] one element each
    deep[deep.length - 1] = 0xc0;
    expect(await refusal(chunks(deep))).toEqual(['bad_request', `not valid msgpack: value 0 nests deeper than 32`]);
    expect(await values(chunks(deep.subarray(1)))).toHaveLength(1);
  });

  it('refuses the never-used type byte, a map with an array key and a stream cut inside a value', async () => {
    expect(await refusal(chunks(Uint8Array.of(0xc1)))).toEqual([
      'bad_request',
      'not valid msgpack: unknown type byte 0xc1',
    ]);
    expect((await refusal(chunks(Uint8Array.of(0x81, 0x90, 0x01))))[0]).toBe('bad_request');
    const cut = concat(encode({ a: 1 }), encode({ b: 'text' }).subarray(0, 4));
    expect(await refusal(chunks(cut))).toEqual([
      'bad_request',
      'not valid msgpack: the stream ends inside value 1 (truncated)',
    ]);
  });

  it('holds the first value to the description limit, later ones to the frame limit, and the body to its total', async () => {
    const frame = encode({ png: new Uint8Array(100) });
    expect((await refusal(chunks(frame), { firstBytes: 50 }))[0]).toBe('too_large');
    expect(await values(chunks(concat(encode(1), frame)), { firstBytes: 50 })).toHaveLength(2);
    expect((await refusal(chunks(concat(encode(1), frame)), { valueBytes: 50 }))[1]).toBe(
      'msgpack value 1 is larger than 50 bytes',
    );
    expect(await refusal(chunks(concat(frame, frame), 10), { totalBytes: 150 })).toEqual([
      'too_large',
      'msgpack stream is larger than 150 bytes',
    ]);
  });
});
