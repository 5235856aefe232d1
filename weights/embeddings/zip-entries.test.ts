import { describe, expect, test } from 'bun:test';
import { readZipEntries } from './zip-entries.ts';
import { errorOf } from '../../test/support/error-of.ts';
import { storedZip } from '../../test/support/stored-zip.ts';

const bytes = (...v: number[]) => Uint8Array.from(v);
const two = () => [
  { name: 'e/data.pkl', data: bytes(1, 2, 3, 4) },
  { name: 'e/data/0', data: bytes(5, 6, 7, 8) },
];
/** The archive with a field of central-directory entry `entry` (at `offset` within it) set to `value`. */
const patched = (zip: Uint8Array, offset: number, value: number, width: 2 | 4, entry = 0) => {
  const out = zip.slice();
  const v = new DataView(out.buffer);
  let at = v.getUint32(out.length - 22 + 16, true);
  for (let i = 0; i < entry; i++)
    at += 46 + v.getUint16(at + 28, true) + v.getUint16(at + 30, true) + v.getUint16(at + 32, true);
  if (width === 2) v.setUint16(at + offset, value, true);
  else v.setUint32(at + offset, value, true);
  return out;
};
const refusal = (zip: Uint8Array) => {
  const e = errorOf(() => readZipEntries(zip, 'e.pt'));
  return [e.code, e.message];
};

describe('reading zip entries', () => {
  test('lists stored entries by name, as views of their bytes', () => {
    const entries = readZipEntries(storedZip(two()), 'e.pt');
    expect([...entries.keys()]).toEqual(['e/data.pkl', 'e/data/0']);
    expect(Array.from(entries.get('e/data/0')!)).toEqual([5, 6, 7, 8]);
  });
});

describe('reading hostile zip archives', () => {
  test('refuses two entries whose data ranges overlap', () => {
    // Entry 1's central record points at entry 0's local header: the same bytes read as two files.
    const zip = patched(storedZip(two()), 42, 0, 4, 1);
    expect(refusal(zip)).toEqual([
      'bad_embedding',
      "e.pt: corrupt zip archive (entry 'e/data.pkl' and entry 'e/data/0' overlap)",
    ]);
  });

  test('refuses an entry whose data runs into the central directory', () => {
    const zip = storedZip(two());
    const dirAt = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    // Entry 0's data starts at 30 + its name; make it end just past where the directory begins.
    const size = dirAt - (30 + 'e/data.pkl'.length) + 1;
    expect(refusal(patched(zip, 20, size, 4))).toEqual([
      'bad_embedding',
      "e.pt: corrupt zip archive (entry 'e/data.pkl' and entry 'e/data/0' overlap)",
    ]);
    const last = storedZip([{ name: 'only', data: bytes(1) }]);
    expect(refusal(patched(last, 20, 2, 4))[1]).toBe(
      "e.pt: corrupt zip archive (entry 'only' and the central directory overlap)",
    );
  });

  test('refuses two entries of the same name', () => {
    const zip = storedZip([...two(), { name: 'e/data/0', data: bytes(9) }]);
    expect(refusal(zip)[1]).toBe("e.pt: corrupt zip archive (two entries are named 'e/data/0')");
  });

  test('refuses header lengths and offsets past the end instead of reading out of bounds', () => {
    const zip = storedZip(two());
    // An extra field of 64 KiB (before: a RangeError from DataView inside the zip64 reader).
    expect(refusal(patched(zip, 30, 0xffff, 2))[1]).toBe(
      'e.pt: corrupt zip archive (central directory entry 0 runs past the directory)',
    );
    expect(refusal(patched(zip, 42, 0x7fffffff, 4))[1]).toBe(
      "e.pt: corrupt zip archive (entry 'e/data.pkl' has no local header)",
    );
    expect(refusal(patched(zip, 20, 0xfffffff0, 4))[1]).toBe(
      "e.pt: truncated: zip entry 'e/data.pkl' ends past the end of the file",
    );
    // A saturated size with no zip64 extra field to hold the real one.
    expect(refusal(patched(zip, 20, 0xffffffff, 4))[1]).toBe(
      "e.pt: corrupt zip archive (entry 'e/data.pkl' lacks its zip64 sizes)",
    );
  });
});
