/**
 * What a request must show before any route sees it, against hostile web pages as much as hostile clients:
 *
 * - **Host** (all routes): a name this server was told it answers to. A page on `evil.example` whose DNS later
 *   points at 127.0.0.1 (DNS rebinding) sends `Host: evil.example`, and is refused.
 * - **Bearer token** (`/v1/…`, when the server has one): `Authorization: Bearer <token>`.
 * - **Origin** (state-changing methods): absent (curl, the CLI), the server's own, or one it was told to trust. A
 *   browser always sends it on a cross-site POST or DELETE, so another site cannot start or cancel runs.
 * - **Content type** (bodies): exactly what the route reads — JSON only as `application/json` (a cross-site form
 *   can send `text/plain` without a preflight), frames only as `application/vnd.msgpack`, uploads only as
 *   `multipart/form-data`.
 */
import type { MiddlewareHandler } from 'hono';
import { PipelineError } from '../../common/errors.ts';

export interface RequestGuardOptions {
  /** Host names the server answers to (no ports); undefined accepts any (a wildcard bind, guarded by a token). */
  allowedHosts?: readonly string[];
  /** Origins (`scheme://host[:port]`) besides the server's own that may make state-changing requests. */
  allowedOrigins?: readonly string[];
  /** When set, every `/v1/` request must carry it as a bearer token. */
  token?: string;
}

/** The content types each body-taking route reads; any other POST takes JSON. */
const bodyTypes: Record<string, readonly string[]> = {
  '/v1/train': ['application/json', 'multipart/form-data'],
  '/v1/pipelines/run': ['application/json', 'application/vnd.msgpack'],
};

const stateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The host name of a Host header, lower-cased, without port or IPv6 brackets. */
export const hostNameOf = (host: string): string => {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  return h.replace(/:\d*$/, '');
};

/** Names a loopback server answers to, besides the address it is bound to. */
export const loopbackNames = ['localhost', '127.0.0.1', '::1'];

/** Compares two strings in time that depends only on their lengths, so the token cannot be guessed byte by byte. */
const sameSecret = (a: string, b: string): boolean => {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
};

/**
 * The middleware; mount it before every route.
 * @example app.use('*', requestGuard({ allowedHosts: ['127.0.0.1', ...loopbackNames], token: 's3cret' }));
 */
export const requestGuard = (o: RequestGuardOptions): MiddlewareHandler => {
  const hosts = o.allowedHosts && new Set(o.allowedHosts.map((h) => hostNameOf(h)));
  const origins = new Set((o.allowedOrigins ?? []).map((s) => s.toLowerCase().replace(/\/$/, '')));
  return async (c, next) => {
    const req = c.req.raw;
    const url = new URL(req.url);
    const host = req.headers.get('host') ?? url.host;
    if (hosts && !hosts.has(hostNameOf(host)))
      throw new PipelineError(
        'forbidden',
        `Host '${hostNameOf(host)}' is not a name this server answers to (start it with --allowed-host ${hostNameOf(host)} to add it)`,
      );
    const path = url.pathname;
    if (o.token !== undefined && path.startsWith('/v1/')) {
      const auth = req.headers.get('authorization') ?? '';
      const given = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
      if (!given || !sameSecret(given, o.token))
        throw new PipelineError('unauthorized', 'this server needs its token: send Authorization: Bearer <token>');
    }
    if (stateChanging.has(req.method)) {
      const origin = req.headers.get('origin');
      const own = `${url.protocol}//${host}`.toLowerCase();
      if (origin !== null && origin.toLowerCase() !== own && !origins.has(origin.toLowerCase()))
        throw new PipelineError(
          'forbidden',
          `requests from the page at '${origin}' may not change anything here (start the server with --allow-origin ${origin} to trust it)`,
        );
      if (origin === null && req.headers.get('sec-fetch-site') === 'cross-site')
        throw new PipelineError('forbidden', 'cross-site requests may not change anything here');
    }
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
      const type = (req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
      const allowed = bodyTypes[path] ?? ['application/json'];
      const empty = req.headers.get('content-length') === '0' || (req.body === null && !type);
      if (!empty && !allowed.includes(type))
        throw new PipelineError(
          'unsupported_media_type',
          `${path} takes ${allowed.join(' or ')}, not '${type || 'no content type'}'`,
        );
    }
    await next();
  };
};
