import { describe, expect, it } from 'bun:test';
import { baseUrlOf, serveOptions } from './serve-options.ts';
import { runtimeName, serve } from './serve.ts';
import { createApp } from '../pipeline/http/app.ts';
import { EMPTY } from 'rxjs';

describe('serve', () => {
  it('picks the Bun adapter under Bun and serves on 127.0.0.1', async () => {
    expect(runtimeName()).toBe('bun');
    const server = await serve(createApp({ generate: () => EMPTY, version: 'x' }), { port: 0 });
    try {
      expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ ok: true, version: 'x' });
    } finally {
      await server.close();
    }
  });

  it('defaults to loopback port 8787 and brackets IPv6 hosts', () => {
    expect(serveOptions()).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(baseUrlOf('::1', 80)).toBe('http://[::1]:80');
  });
});
