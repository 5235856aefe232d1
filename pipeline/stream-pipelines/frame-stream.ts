/**
 * A pipeline over msgpack frames: the body a client streams in (a description first, then input frames) and the
 * byte stream of result frames it reads back. Both sides are pull-driven: an input frame is decoded only when
 * the pipeline asks for one, a result is encoded only when the client reads, so the bounds of `runPipeline`
 * hold end to end. A failure becomes a final `error` frame; a finished item stream ends with `done`.
 */
import { Encoder } from '@msgpack/msgpack';
import { decodeMsgpackValues } from '../wire/msgpack-stream.ts';
import { PipelineError } from '../../common/errors.ts';
import { parseFrame, type Frame } from '../../common/frames.ts';
import { errorFrameOf } from '../wire/end-with-error-frame.ts';
import { latestWinsQueue } from '../wire/latest-wins-queue.ts';
import type { BuiltPipeline } from './build-pipeline.ts';
import { runPipeline, type ResultQueue } from './run-pipeline.ts';
import { frameToItem, itemToFrame } from './wire-items.ts';

/**
 * Splits a msgpack body into its first object (the pipeline description) and the frames after it, which are
 * decoded lazily, one per request from the pipeline.
 * @throws PipelineError('bad_request') when the body is empty or not msgpack.
 * @example const { description, frames } = await readPipelineBody(req.body!);
 */
export const readPipelineBody = async (
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<{ description: unknown; frames: AsyncIterable<Frame> }> => {
  // Bounded: the description and each frame are sized before they are decoded (pipeline/wire/msgpack-stream.ts).
  const it = decodeMsgpackValues(body)[Symbol.asyncIterator]();
  let first: IteratorResult<unknown>;
  try {
    first = await it.next();
  } catch (e) {
    if (e instanceof PipelineError && e.code !== 'bad_request') throw e; // too_large stays too_large
    throw new PipelineError(
      'bad_request',
      `body is not a msgpack stream: ${e instanceof Error ? e.message : String(e)}`,
      { field: 'pipeline' },
    );
  }
  if (first.done)
    throw new PipelineError('bad_request', 'body is empty; it must start with the pipeline description', {
      field: 'pipeline',
    });
  const frames: AsyncIterable<Frame> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await it.next().catch((e: unknown) => {
          if (e instanceof PipelineError && e.code !== 'bad_request') throw e; // too_large stays too_large
          throw new PipelineError(
            'bad_request',
            `an input frame is not valid msgpack: ${e instanceof Error ? e.message : String(e)}`,
            { field: 'input' },
          );
        });
        return r.done ? r : { done: false, value: parseFrame(r.value) };
      },
      return: async () => (await it.return?.(undefined), { done: true, value: undefined }),
    }),
  };
  return { description: first.value, frames };
};

/** Flow control for `pipelineFrameStream`; see `runPipeline`. */
export interface FrameStreamOptions {
  signal?: AbortSignal;
  window?: number;
  highWater?: number;
}

async function* itemsOf(p: BuiltPipeline, frames: AsyncIterable<Frame>): AsyncGenerator<unknown> {
  let position = 0;
  for await (const f of frames) {
    const item = await frameToItem(p.input, f, position, p.first);
    if (item === undefined) continue;
    position++;
    yield item;
  }
}

/**
 * Runs `p` over input frames (ignored by a source pipeline) and returns the result frames as msgpack bytes, one
 * object per chunk.
 * @example return new Response(pipelineFrameStream(built, frames, { signal: c.req.raw.signal }));
 */
export const pipelineFrameStream = (
  p: BuiltPipeline,
  frames: AsyncIterable<Frame> | undefined,
  o: FrameStreamOptions = {},
): ReadableStream<Uint8Array> =>
  resultFrameStream(p, p.input === 'none' || !frames ? undefined : itemsOf(p, frames), o);

/**
 * Runs `p` over input items (already the first stage's kind) and returns the result frames as msgpack bytes.
 * @example for await (const chunk of resultFrameStream(built, files)) await write(chunk);
 */
export const resultFrameStream = (
  p: BuiltPipeline,
  items: AsyncIterable<unknown> | undefined,
  o: FrameStreamOptions = {},
): ReadableStream<Uint8Array> => {
  const queue = p.output === 'frame' ? (latestWinsQueue() as ResultQueue<unknown>) : undefined;
  const results = runPipeline(p, p.input === 'none' ? undefined : items, { ...o, queue }).getReader();
  // ignoreUndefined: an optional field set to undefined would otherwise arrive as nil, which the schema rejects.
  const encoder = new Encoder({ ignoreUndefined: true });
  let count = 0;
  let over = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (over) return controller.close();
        let frame: Frame;
        try {
          const r = await results.read();
          if (r.done) {
            over = true;
            if (p.output === 'frame') return controller.close();
            frame = { type: 'done', runId: p.runId, summary: { results: count } };
          } else {
            frame = await itemToFrame(p.output, r.value, p.runId);
            count++;
          }
        } catch (e) {
          over = true;
          frame = errorFrameOf(e, p.runId);
        }
        controller.enqueue(encoder.encode(frame));
      },
      cancel: (reason) => results.cancel(reason),
    },
    { highWaterMark: 0 },
  );
};
