/**
 * The byte format of a stored frame history: entries one after another, each
 * `[u32 LE length][u32 LE CRC-32 of the payload][payload: msgpack [seq, frame]]`. Appending is the only way the
 * file grows, so a kill -9 mid-append leaves every earlier entry whole and a torn last one, which the length, the
 * checksum or the frame schema gives away: `decodeLog` keeps everything before the first entry that fails and says
 * where it starts, so the store can cut the tail off before appending again.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { crc32 } from '../../common/crc32.ts';
import { Frame } from '../../common/frames.ts';
import type { HistoryEntry } from './run-history.ts';

// ignoreUndefined: an optional field left undefined would come back as nil, which the frame schema refuses.
const encoder = new Encoder({ ignoreUndefined: true });

/** One entry's bytes. */
export const encodeLogEntry = (entry: HistoryEntry): Uint8Array => {
  const payload = encoder.encode([entry.seq, entry.frame]);
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32(payload), true);
  out.set(payload, 8);
  return out;
};

/** Several entries' bytes, one after another. */
export const encodeLog = (entries: readonly HistoryEntry[]): Uint8Array => {
  const parts = entries.map(encodeLogEntry);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
};

const entryOf = (payload: Uint8Array): HistoryEntry | undefined => {
  try {
    const v = new Decoder().decode(payload);
    if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || v[0] < 0) return undefined;
    const frame = Frame.safeParse(v[1]);
    return frame.success ? { seq: v[0], frame: frame.data } : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The entries of a log, up to the first one that is torn or damaged, and the byte length of that good prefix.
 * @example decodeLog(bytes.subarray(0, bytes.length - 3)).entries.length // all but the last entry
 */
export const decodeLog = (bytes: Uint8Array): { entries: HistoryEntry[]; validBytes: number } => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: HistoryEntry[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at, true);
    if (length === 0 || at + 8 + length > bytes.length) break;
    const payload = bytes.subarray(at + 8, at + 8 + length);
    if (crc32(payload) !== view.getUint32(at + 4, true)) break;
    const entry = entryOf(payload);
    if (!entry) break;
    entries.push(entry);
    at += 8 + length;
  }
  return { entries, validBytes: at };
};
