/**
 * Serves a fetch app on whatever runtime runs us: Bun, Deno, or Node. The adapter is loaded only when picked,
 * so no runtime loads another's server code.
 */
import type { FetchApp, ServeHandle, ServeOptions } from './serve-options.ts';

export type { FetchApp, ServeHandle, ServeOptions } from './serve-options.ts';

/** The runtime we are on, as the adapters name them. */
export const runtimeName = (): 'bun' | 'deno' | 'node' =>
  'Bun' in globalThis ? 'bun' : 'Deno' in globalThis ? 'deno' : 'node';

/**
 * Listens on `host:port` (default 127.0.0.1:8787; port 0 picks a free one) and answers with `app.fetch`.
 * @example
 * const server = await serve(createApp({ generate }), { port: 0 });
 * console.log(`listening on ${server.url}`);
 * await server.close();
 */
export const serve = async (app: FetchApp, options?: ServeOptions): Promise<ServeHandle> => {
  switch (runtimeName()) {
    case 'bun':
      return (await import('./serve-bun.ts')).serveBun(app, options);
    case 'deno':
      return (await import('./serve-deno.ts')).serveDeno(app, options);
    default:
      return (await import('./serve-node.ts')).serveNode(app, options);
  }
};
