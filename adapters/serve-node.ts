/**
 * Serves a fetch app with node:http, through a small Request/Response bridge that streams both bodies and keeps
 * the response's backpressure (a slow client slows the reads from the app's stream, which is what lets the wire
 * drop stale previews instead of queueing them).
 */
import { errorBodyOf } from '../common/errors.ts';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { baseUrlOf, serveOptions, type FetchApp, type ServeHandle, type ServeOptions } from './serve-options.ts';

const toRequest = (req: IncomingMessage, base: string, signal: AbortSignal): Request => {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = {
    method: req.method,
    headers,
    signal,
    // node:stream/web's ReadableStream is the global one at runtime; only the type declarations differ.
    body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
    duplex: 'half', // required by Node's fetch for a streamed request body
  };
  return new Request(new URL(req.url ?? '/', base), init);
};

const drainedOrClosed = (out: ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });

const writeResponse = async (res: Response, out: ServerResponse): Promise<void> => {
  const headers: Record<string, string | string[]> = {};
  res.headers.forEach((value, key) => (headers[key] = value));
  const cookies = res.headers.getSetCookie();
  if (cookies.length) headers['set-cookie'] = cookies;
  out.writeHead(res.status, res.statusText, headers);
  if (!res.body) return void out.end();
  out.flushHeaders(); // a streamed run should show its 200 before its first frame
  const reader = res.body.getReader();
  out.on('close', () => {
    if (!out.writableFinished) reader.cancel().catch(() => {}); // the client left: stop the stream, and the run
  });
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      if (!out.write(r.value)) await drainedOrClosed(out);
    }
    out.end();
  } catch (e) {
    out.destroy(e instanceof Error ? e : new Error(String(e)));
  }
};

/**
 * Starts a node:http server for `app`.
 * @example const server = await serveNode(app, { port: 0 }); await fetch(`${server.url}/health`); await server.close();
 */
export const serveNode = async (app: FetchApp, options?: ServeOptions): Promise<ServeHandle> => {
  const { host, port } = serveOptions(options);
  let base = baseUrlOf(host, port);
  const server = createServer(async (req, out) => {
    const gone = new AbortController();
    out.on('close', () => {
      if (!out.writableFinished) gone.abort();
    });
    try {
      await writeResponse(await app.fetch(toRequest(req, base, gone.signal)), out);
    } catch (e) {
      if (!out.headersSent) out.writeHead(500, { 'content-type': 'application/json' });
      out.end(JSON.stringify(errorBodyOf(e)));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  base = baseUrlOf(host, typeof address === 'object' && address ? address.port : port);
  return {
    url: base,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections(); // close() alone waits for streamed responses to end by themselves
      }),
  };
};
