/**
 * Frames off the wire: a run's response body is concatenated msgpack objects, decoded one by one as the bytes
 * arrive by @msgpack/msgpack's streaming decoder, so a frame is handled the moment its last byte lands.
 */
import { decodeMultiStream } from '@msgpack/msgpack';

/**
 * Yields each frame of a run's response as soon as it is complete. Frames are typed `any` here: the page reads
 * the fields it draws and the server's zod schemas (common/frames.ts) are the reference.
 * @param {Response} response
 * @returns {AsyncGenerator<any>}
 * @example for await (const frame of framesOf(await fetch('/v1/runs/r1/frames'))) console.log(frame.type)
 */
export async function* framesOf(response) {
  if (!response.body) return;
  for await (const value of decodeMultiStream(response.body)) {
    // Anything that is not a frame is a server bug; skipping it keeps the rest of the run watchable.
    if (value && typeof value === 'object' && typeof (/** @type {any} */ (value).type) === 'string') yield value;
  }
}
