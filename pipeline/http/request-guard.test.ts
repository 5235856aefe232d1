import { describe, expect, it } from 'bun:test';
import { from } from 'rxjs';
import { createApp } from './app.ts';
import { hostNameOf } from './request-guard.ts';

const app = createApp({
  generate: () => from([]),
  guard: {
    allowedHosts: ['127.0.0.1', 'localhost', 'studio.lan'],
    allowedOrigins: ['http://studio.lan:3000'],
    token: 's3cret',
  },
});
const auth = { authorization: 'Bearer s3cret' };
const json = { 'content-type': 'application/json' };
const at = (path: string, init: RequestInit = {}) => app.request(`http://127.0.0.1:8787${path}`, init);
const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
const generate = (headers: Record<string, string>, body = '{"prompt":"a red circle","steps":1}') =>
  at('/v1/generate', { method: 'POST', headers, body });

describe('the request guard', () => {
  it('answers only to the host names it was given, so a rebound DNS name is refused', async () => {
    const res = await at('/health', { headers: { host: 'evil.example:8787' } });
    expect(res.status).toBe(403);
    expect(await codeOf(res)).toBe('forbidden');
    expect((await at('/health', { headers: { host: 'localhost:8787' } })).status).toBe(200);
    expect((await at('/health', { headers: { host: 'STUDIO.lan' } })).status).toBe(200);
  });

  it('asks for the bearer token on /v1/ with 401 and WWW-Authenticate, and leaves /health open', async () => {
    const res = await at('/v1/runs');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await codeOf(res)).toBe('unauthorized');
    expect((await at('/v1/runs', { headers: { authorization: 'Bearer s3cre' } })).status).toBe(401);
    expect((await at('/v1/runs', { headers: auth })).status).toBe(200);
    expect((await at('/health')).status).toBe(200);
  });

  it('refuses a state-changing request from a foreign page, and lets its own page and trusted origins through', async () => {
    const foreign = await generate({ ...auth, ...json, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(await codeOf(foreign)).toBe('forbidden');
    const del = await at('/v1/runs/x', { method: 'DELETE', headers: { ...auth, origin: 'null' } });
    expect(del.status).toBe(403);
    const crossSite = await generate({ ...auth, ...json, 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    expect((await generate({ ...auth, ...json, origin: 'http://127.0.0.1:8787' })).status).toBe(200);
    expect((await generate({ ...auth, ...json, origin: 'http://studio.lan:3000' })).status).toBe(200);
    expect((await generate({ ...auth, ...json })).status).toBe(200); // curl and the CLI send no Origin
  });

  it('takes bodies only in the content types the route reads, with 415 otherwise', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']) {
      const res = await generate({ ...auth, ...(type ? { 'content-type': type } : {}) });
      expect(res.status).toBe(415);
      expect(await codeOf(res)).toBe('unsupported_media_type');
    }
    expect((await generate({ ...auth, 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    const train = await at('/v1/train', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(train.status).toBe(415);
  });

  it('reads a host name without its port or IPv6 brackets', () => {
    expect(hostNameOf('LocalHost:8787')).toBe('localhost');
    expect(hostNameOf('[::1]:8787')).toBe('::1');
    expect(hostNameOf('127.0.0.1')).toBe('127.0.0.1');
  });
});
