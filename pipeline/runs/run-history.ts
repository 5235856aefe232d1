/**
 * A run's memory of what it said: every record frame (loss, validation, checkpoint, image, done, error) and only
 * the newest droppable frame per key (progress, latent, preview per kind). Each frame gets a sequence number, so
 * a reader keeps just a cursor and asks for "the next frame after seq n": a reconnecting client replays the
 * records and the latest previews in the order they happened, and a slow one costs no memory of its own.
 *
 * Memory stays bounded for runs of a million steps:
 * - per frame type, at most `maxPerType` records; past it every other older record of that type is dropped
 *   (the newest always stays), so a loss curve keeps its whole span at half the resolution, then a quarter…;
 * - validation images count against `maxImageBytes`; past it the oldest validation frames lose their images
 *   (they keep step and loss).
 */
import type { Frame } from '../../common/frames.ts';
import { dropKeyOf } from '../wire/latest-wins-queue.ts';

/** A frame with its place in the run's order. */
export interface HistoryEntry {
  readonly seq: number;
  readonly frame: Frame;
}

/** Limits on what a history keeps. */
export interface HistoryLimits {
  /** Most records kept per frame type (default 100 000). */
  maxPerType?: number;
  /** Most bytes of validation PNGs kept (default 16 MiB: the latest dozens of validation passes at 512 px). */
  maxImageBytes?: number;
}

/** The bounded record of one run's frames. */
export interface RunHistory {
  /** Adds a frame; a droppable one replaces the previous one with its key. */
  push(frame: Frame): HistoryEntry;
  /** The kept frame that comes first after `seq` (−1 for the very first), or undefined when none does yet. */
  after(seq: number): HistoryEntry | undefined;
  /** Every kept frame in order. */
  entries(): HistoryEntry[];
  /** How many frames are kept now (records plus latest droppables). */
  readonly size: number;
}

const imageBytesOf = (f: Frame) => (f.type === 'validation' ? f.images.reduce((n, i) => n + i.png.byteLength, 0) : 0);

/**
 * A new history, empty or holding `from` (entries of an earlier history, e.g. read back from a run store) with
 * their sequence numbers, so a run that goes on after a restart keeps counting where it stopped.
 * @example
 * const h = runHistory();
 * h.push(progress1); h.push(loss1); h.push(progress2);
 * h.entries().map((e) => e.frame) // [loss1, progress2]
 */
export const runHistory = (
  { maxPerType = 100_000, maxImageBytes = 16 * 2 ** 20 }: HistoryLimits = {},
  from: readonly HistoryEntry[] = [],
): RunHistory => {
  let records: HistoryEntry[] = []; // in seq order
  const latest = new Map<string, HistoryEntry>();
  const perType = new Map<string, number>();
  let imageBytes = 0;
  let seq = 0;

  // Halves one type's records, keeping the newest: amortised O(1) per push.
  const thin = (type: string) => {
    let n = 0;
    const total = perType.get(type) ?? 0;
    records = records.filter((e) => e.frame.type !== type || n++ % 2 === 0 || n === total);
    perType.set(type, records.filter((e) => e.frame.type === type).length);
  };

  const stripImages = () => {
    for (let i = 0; i < records.length && imageBytes > maxImageBytes; i++) {
      const f = records[i].frame;
      if (f.type !== 'validation' || !f.images.length) continue;
      imageBytes -= imageBytesOf(f);
      records[i] = { seq: records[i].seq, frame: { ...f, images: [] } };
    }
  };

  // First index whose seq is greater than `s` (records are sorted by seq).
  const firstAfter = (s: number) => {
    let lo = 0;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (records[mid].seq <= s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const put = (entry: HistoryEntry) => {
    const { frame } = entry;
    const key = dropKeyOf(frame);
    if (key !== undefined) {
      latest.set(key, entry);
      return entry;
    }
    records.push(entry);
    const count = (perType.get(frame.type) ?? 0) + 1;
    perType.set(frame.type, count);
    if (count > maxPerType) thin(frame.type);
    imageBytes += imageBytesOf(frame);
    if (imageBytes > maxImageBytes) stripImages();
    return entry;
  };
  // In seq order, so records stay sorted and a later droppable replaces an earlier one of its key.
  for (const e of [...from].sort((a, b) => a.seq - b.seq)) {
    put(e);
    seq = e.seq + 1;
  }

  return {
    push: (frame) => put({ seq: seq++, frame }),
    after(s) {
      let next: HistoryEntry | undefined = records[firstAfter(s)];
      for (const e of latest.values()) if (e.seq > s && (!next || e.seq < next.seq)) next = e;
      return next;
    },
    entries: () => [...records, ...latest.values()].sort((a, b) => a.seq - b.seq),
    get size() {
      return records.length + latest.size;
    },
  };
};
