/**
 * The entries of a zip archive, read through its central directory (zip64 included: PyTorch's writer always
 * asks for it). Only stored entries are returned as bytes: `torch.save` never compresses, and a deflated entry
 * would need an async decompressor.
 */
import { PipelineError } from '../../common/errors.ts';

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

/** Reads the zip64 extra field (id 1): the 64-bit values of whichever 32-bit fields were saturated, in order. */
const zip64Extra = (v: DataView, at: number, length: number, saturated: boolean[]): number[] => {
  const out: number[] = [];
  for (let p = at; p + 4 <= at + length; ) {
    const id = v.getUint16(p, true);
    const size = v.getUint16(p + 2, true);
    if (id === 1)
      for (let q = p + 4, i = 0; i < saturated.length; i++)
        if (saturated[i]) out.push(Number(v.getBigUint64(q, true))), (q += 8);
    p += 4 + size;
  }
  return out;
};

/**
 * Lists a zip archive's entries by name. `what` names the file in error messages.
 * @example
 * readZipEntries(bytes, 'emb.pt').get('emb/data.pkl') // Uint8Array
 */
export const readZipEntries = (bytes: Uint8Array, what: string): ZipEntries => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = findEnd(v);
  if (end < 0) throw bad(what, 'truncated or corrupt zip archive (no end-of-central-directory record)');
  let count = v.getUint16(end + 10, true);
  let dirAt = v.getUint32(end + 16, true);
  if (count === 0xffff || dirAt === MAX32) {
    // The zip64 locator sits just before the classic record and points at the zip64 record.
    const locator = end - 20;
    if (locator < 0 || v.getUint32(locator, true) !== 0x07064b50) throw bad(what, 'corrupt zip64 archive (no locator)');
    const rec = Number(v.getBigUint64(locator + 8, true));
    if (rec + 56 > bytes.byteLength || v.getUint32(rec, true) !== 0x06064b50)
      throw bad(what, 'corrupt zip64 archive (no end record)');
    count = Number(v.getBigUint64(rec + 32, true));
    dirAt = Number(v.getBigUint64(rec + 48, true));
  }
  const entries: ZipEntries = new Map();
  for (let p = dirAt, i = 0; i < count; i++) {
    if (p + 46 > bytes.byteLength || v.getUint32(p, true) !== 0x02014b50)
      throw bad(what, `corrupt zip archive (central directory entry ${i} is missing)`);
    const method = v.getUint16(p + 10, true);
    let size = v.getUint32(p + 20, true);
    const nameLength = v.getUint16(p + 28, true);
    const extraLength = v.getUint16(p + 30, true);
    const commentLength = v.getUint16(p + 32, true);
    let local = v.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    const uncompressed = v.getUint32(p + 24, true);
    // Order of zip64 values: uncompressed size, compressed size, local header offset.
    const big = zip64Extra(v, p + 46 + nameLength, extraLength, [
      uncompressed === MAX32,
      size === MAX32,
      local === MAX32,
    ]);
    if (uncompressed === MAX32) big.shift();
    if (size === MAX32) size = big.shift() ?? size;
    if (local === MAX32) local = big.shift() ?? local;
    if (local + 30 > bytes.byteLength || v.getUint32(local, true) !== 0x04034b50)
      throw bad(what, `corrupt zip archive (entry '${name}' has no local header)`);
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (start + size > bytes.byteLength)
      throw bad(what, `truncated: zip entry '${name}' ends past the end of the file`);
    entries.set(name, method === 0 ? bytes.subarray(start, start + size) : null);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
};
