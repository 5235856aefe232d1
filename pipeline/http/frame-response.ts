/**
 * A run as an HTTP response: status 200 right away, then the frames as they happen, msgpack on the wire. The
 * run stops when the client goes away, whichever way the runtime tells us: the request's signal aborts, or the
 * response body is cancelled.
 */
import type { Observable } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { encodeFrames } from '../wire/msgpack-stream.ts';
import { abortOnUnsubscribe } from './abort-on-unsubscribe.ts';

/** The media type of a frame stream: concatenated msgpack objects. */
export const frameMediaType = 'application/vnd.msgpack';

/**
 * Starts a run with a signal that aborts when the client leaves, and streams its frames. `start` is called
 * synchronously, so a run that throws before its first frame (bad model folder, …) still gets a 4xx/5xx JSON
 * answer from the app's error handler instead of a 200 with an error frame. `keepAll` sends droppable frames too (see
 * `encodeFrames`).
 * @example app.post('/v1/generate', async (c) => frameResponse(c.req.raw.signal, (s) => generate(req, s)))
 */
export const frameResponse = (
  requestSignal: AbortSignal,
  start: (signal: AbortSignal) => Observable<Frame>,
  { keepAll = false }: { keepAll?: boolean } = {},
): Response => {
  const controller = new AbortController();
  if (requestSignal.aborted) controller.abort(requestSignal.reason);
  else requestSignal.addEventListener('abort', () => controller.abort(requestSignal.reason), { once: true });
  const run = start(controller.signal).pipe(abortOnUnsubscribe(controller));
  const body = encodeFrames(run, { signal: controller.signal, keepAll });
  return new Response(body, {
    headers: {
      'content-type': frameMediaType,
      'cache-control': 'no-store',
      // Proxies such as nginx would otherwise hold frames back to fill their buffers.
      'x-accel-buffering': 'no',
    },
  });
};
