/**
 * A run's frames in Redis Streams: the worker appends each frame as it happens; any API process follows a run
 * from the start — every record, then the newest previews — and then live, until its last frame. Records (loss,
 * checkpoint, validation, image, done, error) are never trimmed; droppable frames (progress, latent, preview) go
 * to a second stream capped at the newest few, as the in-process history keeps only the latest of those.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { Redis } from 'ioredis';
import { Observable } from 'rxjs';
import { type Frame, isDroppable } from '../../common/frames.ts';
import { keys, previewsKept } from './keys.ts';

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/**
 * One append, atomic in Redis: the run's next sequence number becomes the entry's id (`0-n`) in whichever stream
 * the frame goes to. One counter for both streams gives their entries one total order — Redis' own time-based ids
 * tie between streams within a millisecond, and a reader merging them could put a `done` before a frame written
 * earlier in the same millisecond.
 */
const appendScript = `
local n = redis.call('INCR', KEYS[2])
local id = '0-' .. n
if ARGV[2] == '1' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], id, 'f', ARGV[1])
else
  redis.call('XADD', KEYS[1], id, 'f', ARGV[1])
end
return n`;

/**
 * Appends one frame to its run's streams. `keepAll` keeps droppable frames too (a stream pipeline's latents are its
 * results, not previews).
 */
export const appendFrame = async (redis: Redis, id: string, frame: Frame, keepAll = false): Promise<void> => {
  const bytes = Buffer.from(encoder.encode(frame));
  const droppable = !keepAll && isDroppable(frame);
  const stream = droppable ? keys.previews(id) : keys.records(id);
  await redis.eval(appendScript, 2, stream, keys.sequence(id), bytes, droppable ? '1' : '0', String(previewsKept));
};

type Entry = [id: Buffer, fields: Buffer[]];

const idOrder = (a: string, b: string) => {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
};

const frameOf = (fields: Buffer[]): Frame | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2)
    if (fields[i].toString() === 'f') return decoder.decode(fields[i + 1]) as Frame;
  return undefined;
};

/** A `done` or `error` frame ends a run's stream; a `cancelled` error written by the worker too. */
export const isLast = (f: Frame) => f.type === 'done' || f.type === 'error';

/**
 * The run's frames: its records from the start and the newest previews, then live ones, until the run's last
 * frame. Uses its own connection (a blocking read holds it); unsubscribing closes it.
 * @example followFrames(redis, id).subscribe((f) => console.log(f.type));
 */
export const followFrames = (redis: Redis, id: string, blockMs = 1000): Observable<Frame> =>
  new Observable<Frame>((subscriber) => {
    const conn = redis.duplicate();
    conn.on('error', () => {}); // ioredis reconnects; a read in flight is retried below
    let stopped = false;
    (async () => {
      let recordsAt = '0';
      // The newest previews only: a reader that arrives late needs the current picture, not the whole history.
      const latest = (await conn.xrevrangeBuffer(keys.previews(id), '+', '-', 'COUNT', 8)) as unknown as Entry[];
      let previewsAt = latest.length ? latest[0][0].toString() : '0';
      const pending: [string, Frame][] = latest.reverse().flatMap(([eid, fields]) => {
        const f = frameOf(fields);
        return f ? [[eid.toString(), f] as [string, Frame]] : [];
      });
      while (!stopped) {
        const got = (await conn.xreadBuffer(
          'COUNT',
          256,
          'BLOCK',
          pending.length ? 1 : blockMs,
          'STREAMS',
          keys.records(id),
          keys.previews(id),
          recordsAt,
          previewsAt,
        )) as [Buffer, Entry[]][] | null;
        for (const [key, entries] of got ?? []) {
          const isRecords = key.toString() === keys.records(id);
          for (const [eid, fields] of entries) {
            const f = frameOf(fields);
            if (isRecords) recordsAt = eid.toString();
            else previewsAt = eid.toString();
            if (f) pending.push([eid.toString(), f]);
          }
        }
        pending.sort((a, b) => idOrder(a[0], b[0]));
        while (pending.length && !stopped) {
          const [, f] = pending.shift()!;
          subscriber.next(f);
          if (isLast(f)) {
            stopped = true;
            subscriber.complete();
          }
        }
      }
    })().catch((e) => {
      if (!stopped) subscriber.error(e);
    });
    return () => {
      stopped = true;
      conn.disconnect();
    };
  });
