/**
 * The entries of a zip archive, read through its central directory (zip64 included: PyTorch's writer always
 * asks for it). Only stored entries are returned as bytes: `torch.save` never compresses, and a deflated entry
 * would need an async decompressor. Every offset and length is checked against the bytes that are there, and
 * entries may not overlap each other or the directory, nor share a name: any of these is a malformed or
 * deliberately ambiguous archive (two readers could see different files), refused as `bad_embedding`.
 */
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';

/** One stored entry's bytes (a view into the archive), or `null` when it is compressed. */
export type ZipEntries = Map<string, Uint8Array | null>;

const bad = (what: string, message: string) => new PipelineError('bad_embedding', `${what}: ${message}`);
const MAX32 = 0xffffffff;

/** Finds the end-of-central-directory record, scanning back over a comment of up to 64 KiB. */
const findEnd = (v: DataView): number => {
  for (let p = v.byteLength - 22; p >= Math.max(0, v.byteLength - 22 - 0xffff); p--)
    if (v.getUint32(p, true) === 0x06054b50) return p;
  return -1;
};

/**
 * Reads the zip64 extra field (id 1) inside [at, end): the 64-bit values of whichever 32-bit fields were
 * saturated, in order. A value the field is too short to hold is left out (the caller refuses the entry).
 */
const zip64Extra = (v: DataView, at: number, end: number, saturated: boolean[]): number[] => {
  const out: number[] = [];
  for (let p = at; p + 4 <= end; ) {
    const id = v.getUint16(p, true);
    const size = v.getUint16(p + 2, true);
    if (id === 1)
      for (let q = p + 4, i = 0; i < saturated.length; i++)
        if (saturated[i] && q + 8 <= Math.min(end, p + 4 + size)) out.push(Number(v.getBigUint64(q, true))), (q += 8);
    p += 4 + size;
  }
  return out;
};

/** Where the central directory is and how many entries it lists, from the classic or the zip64 end record. */
const directory = (v: DataView, what: string): { count: number; dirAt: number; dirEnd: number } => {
  const end = findEnd(v);
  if (end < 0) throw bad(what, 'truncated or corrupt zip archive (no end-of-central-directory record)');
  const count = v.getUint16(end + 10, true);
  const dirAt = v.getUint32(end + 16, true);
  if (count !== 0xffff && dirAt !== MAX32) return { count, dirAt, dirEnd: end };
  // The zip64 locator sits just before the classic record and points at the zip64 record.
  const locator = end - 20;
  if (locator < 0 || v.getUint32(locator, true) !== 0x07064b50) throw bad(what, 'corrupt zip64 archive (no locator)');
  const rec = Number(v.getBigUint64(locator + 8, true));
  if (rec + 56 > locator || v.getUint32(rec, true) !== 0x06064b50)
    throw bad(what, 'corrupt zip64 archive (no end record)');
  return { count: Number(v.getBigUint64(rec + 32, true)), dirAt: Number(v.getBigUint64(rec + 48, true)), dirEnd: rec };
};

/** Refuses byte ranges [start, end) that overlap; `what` each is named by goes in the message. */
const checkDisjoint = (ranges: { start: number; end: number; name: string }[], what: string) => {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].start < sorted[i - 1].end)
      throw bad(what, `corrupt zip archive (${sorted[i - 1].name} and ${sorted[i].name} overlap)`);
};

/**
 * Lists a zip archive's entries by name. `what` names the file in error messages.
 * @example
 * readZipEntries(bytes, 'emb.pt').get('emb/data.pkl') // Uint8Array
 */
export const readZipEntries = (bytes: Uint8Array, what: string): ZipEntries => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { count, dirAt, dirEnd } = directory(v, what);
  if (count > limits.zipEntries) throw bad(what, `zip archive lists ${count} entries (at most ${limits.zipEntries})`);
  const entries: ZipEntries = new Map();
  const ranges = [{ start: dirAt, end: dirEnd, name: 'the central directory' }];
  for (let p = dirAt, i = 0; i < count; i++) {
    if (p + 46 > dirEnd || v.getUint32(p, true) !== 0x02014b50)
      throw bad(what, `corrupt zip archive (central directory entry ${i} is missing)`);
    const method = v.getUint16(p + 10, true);
    let size = v.getUint32(p + 20, true);
    const uncompressed = v.getUint32(p + 24, true);
    const nameLength = v.getUint16(p + 28, true);
    const extraLength = v.getUint16(p + 30, true);
    const next = p + 46 + nameLength + extraLength + v.getUint16(p + 32, true);
    if (next > dirEnd) throw bad(what, `corrupt zip archive (central directory entry ${i} runs past the directory)`);
    let local = v.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    if (entries.has(name)) throw bad(what, `corrupt zip archive (two entries are named '${name}')`);
    // Order of zip64 values: uncompressed size, compressed size, local header offset.
    const saturated = [uncompressed === MAX32, size === MAX32, local === MAX32];
    const big = zip64Extra(v, p + 46 + nameLength, p + 46 + nameLength + extraLength, saturated);
    if (big.length !== saturated.filter(Boolean).length)
      throw bad(what, `corrupt zip archive (entry '${name}' lacks its zip64 sizes)`);
    if (uncompressed === MAX32) big.shift();
    if (size === MAX32) size = big.shift()!;
    if (local === MAX32) local = big.shift()!;
    if (local + 30 > bytes.byteLength || v.getUint32(local, true) !== 0x04034b50)
      throw bad(what, `corrupt zip archive (entry '${name}' has no local header)`);
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (start + size > bytes.byteLength)
      throw bad(what, `truncated: zip entry '${name}' ends past the end of the file`);
    ranges.push({ start: local, end: start + size, name: `entry '${name}'` });
    entries.set(name, method === 0 ? bytes.subarray(start, start + size) : null);
    p = next;
  }
  checkDisjoint(ranges, what);
  return entries;
};
