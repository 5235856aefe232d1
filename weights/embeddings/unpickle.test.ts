import { describe, expect, test } from 'bun:test';
import { limits } from '../../common/limits.ts';
import { torchLoad } from './torch-load.ts';
import { unpickle } from './unpickle.ts';
import { errorOf } from '../../test/support/error-of.ts';
import { storedZip } from '../../test/support/stored-zip.ts';

const PROTO2 = [0x80, 2];
const STOP = 0x2e;
const text = (s: string) => Array.from(new TextEncoder().encode(s));
/** SHORT_BINUNICODE: a length byte, then UTF-8. */
const str = (s: string) => [0x8c, s.length, ...text(s)];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const pickle = (...ops: number[][]) => Uint8Array.from([...PROTO2, ...ops.flat(), STOP]);

describe('the unpickler against hostile pickles', () => {
  test('refuses a 1 MB LONG4 integer as bad_embedding instead of parsing it', () => {
    const long4 = new Uint8Array(2 + 5 + 2 ** 20 + 1);
    long4.set([...PROTO2, 0x8b, ...u32(2 ** 20)]);
    long4.fill(0xff, 7);
    long4[long4.length - 1] = STOP;
    const e = errorOf(() => unpickle(long4, 'big.pkl'));
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      `big.pkl: pickle holds a 1048576-byte integer; at most ${limits.pickleIntBytes} bytes are supported`,
    ]);
  });

  test('refuses a LONG1 integer of 9 bytes, one more than int64 needs', () => {
    const e = errorOf(() => unpickle(pickle([0x8a, 9, ...new Array(9).fill(1)]), 'l.pkl'));
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      'l.pkl: pickle holds a 9-byte integer; at most 8 bytes are supported',
    ]);
  });

  test('refuses a memoised dict copied by BUILD once per opcode past the value cap', () => {
    // A 1000-entry dict in memo slot 0, then BUILD applying it to a new dict over and over (3 bytes each).
    const entries = Array.from({ length: 1000 }, (_, i) => [0x4d, i & 0xff, i >> 8, 0x4e]).flat();
    const copies = Array.from({ length: 200 }, () => [0x7d, 0x68, 0, 0x62, 0x30]).flat();
    const bytes = pickle([0x7d, 0x28, ...entries, 0x75, 0x71, 0], copies, [0x4e]);
    const e = errorOf(() => unpickle(bytes, 'copies.pkl'));
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      `copies.pkl: pickle builds more than ${limits.pickleObjects} values`,
    ]);
  });

  test('refuses more memo slots than the cap', () => {
    const memoize = new Array(limits.pickleMemoEntries + 1).fill(0x94);
    const e = errorOf(() => unpickle(pickle([0x4e], memoize), 'memo.pkl'));
    expect(e.message).toBe(`memo.pkl: pickle memoises more than ${limits.pickleMemoEntries} values`);
  });

  test('reports an empty memo slot, a mark used as a value and a call of a non-global as corrupt', () => {
    const cases: [number[][], string][] = [
      [[[0x68, 7]], 'corrupt pickle (memo slot 7 is empty)'],
      [[[0x28, 0x85]], 'corrupt pickle (a mark where opcode at byte 3 needs a value)'],
      [[[0x4e, 0x29, 0x52]], 'corrupt pickle (calls something that is not a global)'],
      [[str('os'), [0x4b, 1], [0x93]], 'corrupt pickle (a global named by non-strings)'],
    ];
    for (const [ops, message] of cases)
      expect(errorOf(() => unpickle(pickle(...ops), 'p')).message).toBe(`p: ${message}`);
  });
});

describe('torch.save tensors against hostile pickles', () => {
  /** A .pt whose pickle rebuilds `copies` tensors of `numel` floats, all from storage '0'. */
  const sharedStorage = (numel: number, copies: number) => {
    const pid = [0x28, ...str('storage'), 0x63, ...text('torch\nFloatStorage\n'), ...str('0'), ...str('cpu')];
    const size = [0x4a, ...u32(numel), 0x85];
    // fn, MARK, storage, offset 0, (numel,), (1,), TUPLE, REDUCE, POP
    const rebuild = [0x68, 0, 0x28, 0x68, 1, 0x4b, 0, ...size, 0x4b, 1, 0x85, 0x74, 0x52, 0x30];
    const pkl = pickle(
      [0x63, ...text('torch._utils\n_rebuild_tensor_v2\n'), 0x71, 0],
      [...pid, 0x4a, ...u32(numel), 0x74, 0x51, 0x71, 1],
      ...new Array(copies).fill(rebuild),
      [0x4e],
    );
    return storedZip([
      { name: 'e/data.pkl', data: pkl },
      { name: 'e/data/0', data: new Uint8Array(4 * numel) },
    ]);
  };

  test('rebuilds tensors that share a storage', () => {
    expect(torchLoad(sharedStorage(4, 3), 'ok.pt')).toBeNull();
  });

  test('refuses tensors that together hold more than the tensor-bytes cap, even from one small storage', () => {
    const numel = 2 ** 20; // 4 MiB of float32, rebuilt 17 times: 68 MiB
    const e = errorOf(() => torchLoad(sharedStorage(numel, 17), 'shared.pt'));
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      `shared.pt: its tensors hold more than ${limits.torchTensorBytes} bytes, too many for an embedding`,
    ]);
  });
});
