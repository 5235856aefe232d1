/**
 * Serves a fetch app with Bun.serve.
 */
import { baseUrlOf, serveOptions, type FetchApp, type ServeHandle, type ServeOptions } from './serve-options.ts';

// Only the slice of Bun's API used here, declared locally so `deno check` of anything importing adapters/serve.ts
// (which names this file in a dynamic import) does not need Bun's types.
declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout?: number;
    fetch(request: Request): Response | Promise<Response>;
  }): { readonly port: number | undefined; stop(closeActiveConnections?: boolean): Promise<void> };
};

/**
 * Starts a Bun HTTP server for `app`.
 * @example const server = await serveBun(app, { port: 0 }); await fetch(`${server.url}/health`); await server.close();
 */
export const serveBun = async (app: FetchApp, options?: ServeOptions): Promise<ServeHandle> => {
  const { host, port } = serveOptions(options);
  const server = Bun.serve({
    hostname: host,
    port,
    // Bun closes a connection idle for 10 s by default; a UNet step on CPU can take longer than that between two
    // frames, so streamed runs would be cut off. 0 turns the idle timeout off.
    idleTimeout: 0,
    fetch: (request) => app.fetch(request),
  });
  return { url: baseUrlOf(host, server.port ?? port), close: () => server.stop(true) };
};
