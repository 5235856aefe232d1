import { describe, expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMPTY } from 'rxjs';
import { createApp } from '../../pipeline/http/app.ts';
import { projectRoot } from '../../adapters/project-paths.ts';
import { assetPath, staticAssets } from '../../adapters/static-assets.ts';

const assets = staticAssets();
const viewerDir = join(projectRoot, 'viewer');

describe('staticAssets', () => {
  test('serves the viewer page at / with an HTML content type', async () => {
    const res = await assets('/');
    expect(res?.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res!.text()).toContain('<script type="module" src="/viewer/app.js">');
  });

  test("serves the page's modules and styles with their content types", async () => {
    expect((await assets('/viewer/app.js'))?.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await assets('/viewer/style.css'))?.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  test('serves the vendored msgpack and uPlot ES module builds from node_modules, siblings included', async () => {
    for (const p of [
      '/viewer/vendor/msgpack/index.mjs',
      '/viewer/vendor/msgpack/utils/utf8.mjs',
      '/viewer/vendor/uplot/uPlot.esm.js',
      '/viewer/vendor/uplot/uPlot.min.css',
    ]) {
      const res = await assets(p);
      expect(res?.status, p).toBe(200);
    }
  });

  test('refuses paths that would leave their folder, however they are spelled', async () => {
    for (const p of [
      '/viewer/../package.json',
      '/viewer/%2e%2e/package.json',
      '/viewer/vendor/msgpack/../../../package.json',
      '/viewer/vendor/msgpack/%2e%2e%2f%2e%2e%2fpackage.json',
      '/viewer/..%5c..%5cpackage.json',
      '/viewer/%00app.js',
      '/viewer//etc/passwd.json',
      '/viewer/%',
      '/viewer/.hidden.js',
    ]) {
      expect(assetPath(p), p).toBeUndefined();
      expect(await assets(p), p).toBeUndefined();
    }
  });

  test('serves nothing outside its mounts, and no file type it does not know', async () => {
    for (const p of [
      '/package.json',
      '/node_modules/uplot/package.json',
      '/viewer/vendor/msgpack/index.d.ts',
      '/viewer/vendor/msgpack/index.mjs.map',
      '/viewer/missing.js',
    ])
      expect(await assets(p), p).toBeUndefined();
  });
});

describe('the viewer page', () => {
  // What a browser would fetch, checked without one: every import of every module resolves to a served file.
  test('imports only files the server serves, bare specifiers through the import map', async () => {
    const html = readFileSync(join(viewerDir, 'index.html'), 'utf8');
    const importMap = JSON.parse(html.match(/<script type="importmap">([\s\S]*?)<\/script>/)![1]).imports as Record<
      string,
      string
    >;
    const unresolved: string[] = [];
    for (const file of readdirSync(viewerDir).filter((f) => f.endsWith('.js'))) {
      for (const [, spec] of readFileSync(join(viewerDir, file), 'utf8').matchAll(
        /^(?:import|export)[^'"]*from ['"]([^'"]+)['"]/gm,
      )) {
        const url = spec.startsWith('.') ? new URL(spec, `http://x/viewer/${file}`).pathname : importMap[spec];
        if (!url || !(await assets(url))) unresolved.push(`${file}: ${spec}`);
      }
    }
    expect(unresolved).toEqual([]);
    for (const href of html.matchAll(/(?:href|src)="(\/[^"]+)"/g))
      expect(existsSync(assetPath(href[1])!), href[1]).toBe(true);
  });
});

describe('createApp with the assets hook', () => {
  const app = createApp({ generate: () => EMPTY, assets: staticAssets() });

  test('serves the page at / and its files under /viewer/, next to the API', async () => {
    expect((await app.request('/')).headers.get('content-type')).toStartWith('text/html');
    expect((await app.request('/viewer/vendor/msgpack/index.mjs')).headers.get('content-type')).toStartWith(
      'text/javascript',
    );
    expect(await (await app.request('/health')).json()).toMatchObject({ ok: true });
  });

  test('answers 404 JSON for a viewer path it does not serve, traversal included', async () => {
    for (const p of [
      '/viewer/nope.js',
      '/viewer/%2e%2e/package.json',
      '/viewer/vendor/msgpack/%2e%2e%2f%2e%2e%2fpackage.json',
    ]) {
      const res = await app.request(p);
      expect(res.status, p).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });

  test('serves no page without the hook', async () => {
    expect((await createApp({ generate: () => EMPTY }).request('/')).status).toBe(404);
  });
});
