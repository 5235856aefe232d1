import { describe, expect, it } from 'bun:test';
import type { Frame } from '../../common/frames.ts';
import { crc32 } from '../../common/crc32.ts';
import { decodeLog, encodeLog, encodeLogEntry } from './run-log.ts';

const loss = (step: number): Frame => ({ type: 'loss', runId: 'r', step, loss: 1 / step, lr: 1e-3, gradNorm: 2 });
const validation: Frame = {
  type: 'validation',
  runId: 'r',
  step: 3,
  loss: 0.25,
  images: [{ prompt: 'a <t>', width: 2, height: 1, png: new Uint8Array([137, 80, 78, 71, 1, 2, 3]) }],
};
const entries = [
  { seq: 0, frame: loss(1) },
  { seq: 4, frame: validation },
  { seq: 9, frame: loss(2) },
];

describe('the run log format', () => {
  it('checksums with the zlib CRC-32 (check value of "123456789" is 0xcbf43926)', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('reads back what it wrote, bytes and sequence numbers included', () => {
    const bytes = encodeLog(entries);
    expect(bytes.length).toBe(entries.reduce((n, e) => n + encodeLogEntry(e).length, 0));
    expect(decodeLog(bytes)).toEqual({ entries, validBytes: bytes.length });
  });

  it('keeps every whole entry of a log cut at any byte, and says where the torn one starts', () => {
    const sizes = entries.map((e) => encodeLogEntry(e).length);
    const bounds = [0, sizes[0], sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2]];
    const bytes = encodeLog(entries);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const whole = bounds.filter((b) => b <= cut).length - 1;
      const got = decodeLog(bytes.subarray(0, cut));
      expect(got.entries).toEqual(entries.slice(0, whole));
      expect(got.validBytes).toBe(bounds[whole]);
    }
  });

  it('stops at a damaged entry (a flipped bit, zeros, or a frame the schema refuses)', () => {
    const bytes = encodeLog(entries);
    const first = encodeLogEntry(entries[0]).length;
    const flipped = bytes.slice();
    flipped[first + 12] ^= 1;
    expect(decodeLog(flipped)).toEqual({ entries: entries.slice(0, 1), validBytes: first });
    const zeros = new Uint8Array(bytes.length + 64);
    zeros.set(bytes);
    expect(decodeLog(zeros).validBytes).toBe(bytes.length);
    const bad = encodeLogEntry({ seq: 1, frame: { type: 'loss', runId: 'r' } as unknown as Frame });
    expect(decodeLog(encodeLog([entries[0]])).validBytes).toBe(first);
    expect(decodeLog(new Uint8Array([...encodeLog([entries[0]]), ...bad])).entries).toEqual([entries[0]]);
  });
});
