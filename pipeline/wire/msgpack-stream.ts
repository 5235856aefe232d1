/**
 * The streaming wire: a run's `Observable<Frame>` as a byte stream of concatenated msgpack objects, and back.
 * The run pushes at its own pace; the consumer pulls at its own. Between them sits a latest-wins queue, so a slow
 * consumer gets every record (loss, image, …) but only the newest latent/preview/progress, and memory stays
 * bounded. Cancelling the byte stream unsubscribes the run, which is how a client disconnect stops the ORT loop.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { Subject, takeUntil, type Observable, type Subscription } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { parseFrame, type Frame } from '../../common/frames.ts';
import { limits as L } from '../../common/limits.ts';
import { endWithErrorFrame, errorFrameOf } from './end-with-error-frame.ts';
import { type LatestWinsQueue, latestWinsQueue } from './latest-wins-queue.ts';

/** A queue with the latest-wins queue's interface that drops nothing. */
const fifoQueue = (): Pick<LatestWinsQueue, 'push' | 'shift' | 'clear' | 'size'> => {
  let pending: Frame[] = [];
  return {
    push: (f) => void pending.push(f),
    shift: () => pending.shift(),
    clear: () => void (pending = []),
    get size() {
      return pending.length;
    },
  };
};

/** How `encodeFrames` behaves at its edges. */
export interface EncodeFramesOptions {
  /** runId for an `error` frame when the run fails before emitting any frame. */
  runId?: string;
  /** Aborting it counts as the consumer going away: the run is unsubscribed and the stream closes. */
  signal?: AbortSignal;
  /**
   * Keep droppable frames too, in order (a stream pipeline's latents are its results, not previews); the
   * `maxPending` bound still stops a run whose consumer falls that far behind.
   */
  keepAll?: boolean;
  /**
   * Most frames that may wait for a consumer (droppable ones collapse, records do not). Past it the run is
   * stopped and the stream ends with a 'cancelled' error frame rather than growing without limit. Default 10 000.
   */
  maxPending?: number;
}

/**
 * Encodes frames into a pull-driven byte stream, one msgpack object per chunk. The source is subscribed when the
 * stream starts; errors become a final `error` frame; the stream closes after `done`/`error`/completion.
 * @example
 * return new Response(encodeFrames(run$, { signal: req.signal }), { headers: { 'content-type':
 * 'application/vnd.msgpack' } });
 */
export const encodeFrames = (source: Observable<Frame>, opts: EncodeFramesOptions = {}): ReadableStream<Uint8Array> => {
  const { signal, maxPending = 10_000 } = opts;
  const queue = opts.keepAll ? fifoQueue() : latestWinsQueue();
  // ignoreUndefined: an optional field set to undefined would otherwise arrive as nil, which the schema rejects.
  const encoder = new Encoder({ ignoreUndefined: true });
  let sub: Subscription | undefined;
  let ended = false; // the source will push nothing more
  let closed = false; // the consumer is gone or the stream is closed
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stop = () => {
    closed = true;
    sub?.unsubscribe();
    queue.clear();
    signal?.removeEventListener('abort', onAbort);
    notify();
  };
  let onAbort = () => {};

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        onAbort = () => {
          if (closed) return;
          stop();
          controller.close();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        // takeUntil, not sub.unsubscribe(): a synchronous source overflows inside subscribe(), before `sub` exists.
        const overflow = new Subject<void>();
        sub = source.pipe(endWithErrorFrame(opts.runId), takeUntil(overflow)).subscribe({
          next(frame) {
            queue.push(frame);
            if (queue.size > maxPending) {
              const why = `consumer fell ${maxPending} frames behind; run stopped`;
              queue.push(errorFrameOf(new PipelineError('cancelled', why), frame.runId));
              overflow.next();
            }
            notify();
          },
          complete() {
            ended = true;
            notify();
          },
        });
      },
      async pull(controller) {
        while (queue.size === 0 && !ended && !closed) await new Promise<void>((r) => (wake = r));
        if (closed) return;
        const frame = queue.shift();
        if (frame) return controller.enqueue(encoder.encode(frame));
        stop();
        controller.close();
      },
      cancel() {
        stop();
      },
    },
    // highWaterMark 0: nothing is encoded ahead of a read, so every pending frame stays in the latest-wins
    // queue where a newer one can still replace it.
    { highWaterMark: 0 },
  );
};

/** Bounds for `decodeMsgpackValues`; each defaults to the request-body limit in `common/limits.ts`. */
export interface MsgpackLimits {
  /** Bytes of the first value (a request's pipeline description). */
  firstBytes?: number;
  /** Bytes of every later value (an input frame). */
  valueBytes?: number;
  /** Bytes of the whole stream. */
  totalBytes?: number;
}

const badMsgpack = (m: string) => new PipelineError('bad_request', `not valid msgpack: ${m}`);
const tooLarge = (m: string) => new PipelineError('too_large', m);

/** A map from a flat list of [key, value, key, value, …]. */
const pairs = <V>(flat: (number | V)[]) =>
  new Map(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i] as number, flat[2 * i + 1] as V]));
/**
 * Bytes after the type byte of each fixed-size value (the msgpack spec's formats table): nil, false, true,
 * float 32 and 64, uint 8–64, int 8–64, then fixext 1–16 (an ext type byte and the data).
 */
const FIXED = pairs<number>([
  0xc0, 0, 0xc2, 0, 0xc3, 0, 0xca, 4, 0xcb, 8, 0xcc, 1, 0xcd, 2, 0xce, 4, 0xcf, 8, 0xd0, 1, 0xd1, 2, 0xd2, 4, 0xd3, 8,
  0xd4, 2, 0xd5, 3, 0xd6, 5, 0xd7, 9, 0xd8, 17,
]);
/** Length-prefixed values, by type byte: the width of the length, the ext type bytes after it, the kind. */
type Kind = 'bin' | 'str' | 'ext' | 'array' | 'map';
const SIZED = pairs<[number, number, Kind]>([
  ...[0xc4, [1, 0, 'bin'], 0xc5, [2, 0, 'bin'], 0xc6, [4, 0, 'bin']],
  ...[0xc7, [1, 1, 'ext'], 0xc8, [2, 1, 'ext'], 0xc9, [4, 1, 'ext']],
  ...[0xd9, [1, 0, 'str'], 0xda, [2, 0, 'str'], 0xdb, [4, 0, 'str']],
  ...[0xdc, [2, 0, 'array'], 0xdd, [4, 0, 'array'], 0xde, [2, 0, 'map'], 0xdf, [4, 0, 'map']],
] as (number | [number, number, Kind])[]);

/**
 * The value whose type byte is at `b[at]`: its header size, payload size and how many values nest in it; or
 * undefined when the header is not all buffered yet. Lengths are checked here, before anything is allocated.
 */
const headerAt = (b: Uint8Array, at: number, len: number) => {
  const t = b[at];
  if (t < 0x80 || t >= 0xe0) return { header: 1, payload: 0, children: 0 }; // fixints
  if (t < 0xa0) return { header: 1, payload: 0, children: (t & 0x0f) * (t < 0x90 ? 2 : 1) }; // fixmap, fixarray
  if (t < 0xc0) return { header: 1, payload: t & 0x1f, children: 0 }; // fixstr
  const fixed = FIXED.get(t);
  if (fixed !== undefined) return { header: 1 + fixed, payload: 0, children: 0 };
  const sized = SIZED.get(t);
  if (!sized) throw badMsgpack(`unknown type byte 0x${t.toString(16)}`);
  const [width, typeByte, kind] = sized;
  if (at + 1 + width > len) return undefined;
  let n = 0;
  for (let i = 1; i <= width; i++) n = n * 256 + b[at + i];
  const container = kind === 'array' || kind === 'map';
  if (container && n > L.msgpackContainerLength) throw tooLarge(`a msgpack ${kind} of ${n} elements is too large`);
  if ((kind === 'str' || kind === 'ext') && n > L.msgpackStringBytes)
    throw tooLarge(`a msgpack ${kind} of ${n} bytes is too large`);
  const header = 1 + width + typeByte;
  return container ? { header, payload: 0, children: kind === 'map' ? 2 * n : n } : { header, payload: n, children: 0 };
};

const chunksOf = (s: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> =>
  Symbol.asyncIterator in s
    ? s
    : (async function* () {
        const reader = s.getReader();
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
        } finally {
          await reader.cancel();
        }
      })();

/**
 * Decodes a byte stream of concatenated msgpack values, lazily (a chunk is read only when the next value needs
 * it) and within bounds: each value's extent is found from its headers alone before it is decoded, so a value
 * over its byte limit, a string or container over its length limit, or nesting past `limits.msgpackDepth` is
 * refused before the bytes are buffered or anything is allocated, and each value is then decoded whole, once
 * (feeding @msgpack/msgpack chunk by chunk copies the pending bytes on every chunk, quadratic for a large frame).
 * Leaving the loop early cancels the source.
 * @throws PipelineError('bad_request') for bytes that are not msgpack or end inside a value, 'too_large' past a limit.
 * @example for await (const v of decodeMsgpackValues(req.body!)) console.log(v);
 */
export async function* decodeMsgpackValues(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  limits: MsgpackLimits = {},
): AsyncGenerator<unknown> {
  const { firstBytes = L.msgpackDescriptionBytes, valueBytes = L.msgpackFrameBytes } = limits;
  const { totalBytes = L.msgpackBodyBytes } = limits;
  const decoder = new Decoder({
    maxStrLength: L.msgpackStringBytes,
    maxBinLength: Math.max(firstBytes, valueBytes),
    maxArrayLength: L.msgpackContainerLength,
    maxMapLength: L.msgpackContainerLength,
    maxExtLength: L.msgpackStringBytes,
  });
  let buf = new Uint8Array(4096);
  let len = 0; // bytes buffered
  let start = 0; // where the current value starts
  let pos = 0; // how far its headers have been walked
  let owed = [1]; // values still owed, per open container (the first entry is the value itself)
  let total = 0;
  let index = 0;
  /** Walks headers from `pos`; true when the value that starts at `start` is complete. */
  const complete = (limit: number): boolean => {
    while (owed.length) {
      const h = pos < len ? headerAt(buf, pos, len) : undefined;
      if (!h) return false;
      const end = pos + h.header + h.payload;
      if (end - start > limit) throw tooLarge(`msgpack value ${index} is larger than ${limit} bytes`);
      if (end > len) return false;
      pos = end;
      owed[owed.length - 1]--;
      if (h.children) owed.push(h.children);
      if (owed.length > L.msgpackDepth + 1) throw badMsgpack(`value ${index} nests deeper than ${L.msgpackDepth}`);
      while (owed.length && owed[owed.length - 1] === 0) owed.pop();
    }
    return true;
  };
  for await (const chunk of chunksOf(stream)) {
    total += chunk.byteLength;
    if (total > totalBytes) throw tooLarge(`msgpack stream is larger than ${totalBytes} bytes`);
    // Keep only the unfinished value, at the front: each byte moves at most once, and the buffer doubles.
    buf.copyWithin(0, start, len);
    [len, pos, start] = [len - start, pos - start, 0];
    if (len + chunk.byteLength > buf.length) {
      const grown = new Uint8Array(Math.max(2 * buf.length, len + chunk.byteLength));
      grown.set(buf.subarray(0, len));
      buf = grown;
    }
    buf.set(chunk, len);
    len += chunk.byteLength;
    while (complete(index === 0 ? firstBytes : valueBytes)) {
      let value: unknown;
      try {
        value = decoder.decode(buf.slice(start, pos)); // a copy: decoded bins are views that outlive `buf`
      } catch (e) {
        throw badMsgpack(e instanceof Error ? e.message : String(e));
      }
      [start, owed] = [pos, [1]];
      index++;
      yield value;
    }
  }
  if (len > start) throw badMsgpack(`the stream ends inside value ${index} (truncated)`);
}

/**
 * Decodes a byte stream of concatenated msgpack objects into validated frames. Leaving the loop early cancels a
 * ReadableStream source (its async iterator does that), which on a client closes the connection. A frame may be
 * as large as an input frame of a request (`limits.msgpackFrameBytes`); the stream as long as the run.
 * @throws PipelineError('io') for a value that is not a valid frame; 'bad_request' for corrupt bytes and
 * 'too_large' past a limit (see `decodeMsgpackValues`).
 * @example for await (const frame of decodeFrames(res.body!)) if (frame.type === 'image') save(frame.png);
 */
export async function* decodeFrames(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Frame> {
  const limits = { firstBytes: L.msgpackFrameBytes, valueBytes: L.msgpackFrameBytes, totalBytes: Infinity };
  for await (const value of decodeMsgpackValues(stream, limits)) yield parseFrame(value);
}
