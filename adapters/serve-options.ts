/**
 * What every serve adapter takes and gives back, so `adapters/serve.ts` can pick one by runtime and callers never
 * learn which.
 */

/** Anything with a WHATWG fetch handler — a Hono app is one. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/** Where to listen. Loopback by default (another address needs a token: see README, Security). Port 0 picks a free port. */
export interface ServeOptions {
  host?: string;
  port?: number;
}

/** A listening server: its base URL (no trailing slash, e.g. `http://127.0.0.1:8787`) and a way to stop it. */
export interface ServeHandle {
  readonly url: string;
  /** Stops listening and drops open connections, which cancels their response streams (and so their runs). */
  close(): Promise<void>;
}

/**
 * Options with defaults filled in.
 * @example serveOptions({ port: 0 }) // { host: '127.0.0.1', port: 0 }
 */
export const serveOptions = (o: ServeOptions = {}): Required<ServeOptions> => ({
  host: o.host ?? '127.0.0.1',
  port: o.port ?? 8787,
});

/**
 * The base URL for a bound address; IPv6 literals get brackets.
 * @example baseUrlOf('::1', 8787) // 'http://[::1]:8787'
 */
export const baseUrlOf = (host: string, port: number): string =>
  `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
