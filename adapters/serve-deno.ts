/**
 * Serves a fetch app with Deno.serve.
 */
import { baseUrlOf, serveOptions, type FetchApp, type ServeHandle, type ServeOptions } from './serve-options.ts';

// Only the slice of Deno's API used here, declared locally so the project's tsc (Bun types) can check this file.
declare const Deno: {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { readonly addr: { port: number }; shutdown(): Promise<void> };
};

// Rebuilt from its parts because `new Request(request, { signal })` still reads request.signal, which is what
// makes Deno print its legacy-abort warning.
const withSignal = (request: Request, signal: AbortSignal): Request => {
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal,
  };
  if (request.body) init.duplex = 'half'; // required for a streamed request body
  return new Request(request.url, init);
};

/**
 * Starts a Deno HTTP server for `app`.
 * @example const server = await serveDeno(app, { port: 0 }); await fetch(`${server.url}/health`); await server.close();
 */
export const serveDeno = async (app: FetchApp, options?: ServeOptions): Promise<ServeHandle> => {
  const { host, port } = serveOptions(options);
  // Deno's shutdown() waits for responses in flight, and a streamed run may go on for minutes, so every request
  // carries `closing` as its signal and close() aborts it: handlers that honour their signal (our runs do) end at
  // once. Deno's own request.signal is left out on purpose: by default (Deno 2 "legacy abort") it also fires after
  // every successful response and logs a warning when watched; a client that leaves is still seen, because Deno
  // cancels the response body, which stops the run.
  const closing = new AbortController();
  const server = Deno.serve(
    { hostname: host, port, onListen: () => {} }, // onListen: Deno would otherwise log "Listening on …"
    (request) => app.fetch(withSignal(request, closing.signal)),
  );
  return {
    url: baseUrlOf(host, server.addr.port),
    close: async () => {
      closing.abort();
      await server.shutdown();
    },
  };
};
