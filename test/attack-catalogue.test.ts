/**
 * The server as an attacker meets it: `pseudoword serve` started for real on loopback with folders to serve, then
 * one request per class of attack. Each must be refused with a clear 4xx, no byte of a file outside the roots may
 * appear in any answer, /health must keep answering while an attack is pending, the server's peak memory stays
 * bounded, and a normal generation still works at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { storedZip } from './support/stored-zip.ts';

const project = join(import.meta.dir, '..');
const marker = 'SECRET-MARKER-7f3a9c';
const base = realpathSync(mkdtempSync(join(tmpdir(), 'pseudoword-attack-')));
const images = join(base, 'roots/images');
const runs = join(base, 'roots/runs');
const secret = join(base, 'secret');
for (const d of [join(images, 'cat'), join(images, 'deep'), runs, join(secret, 'inner')])
  mkdirSync(d, { recursive: true });
const concept = join(project, 'examples/concepts/bullseye');
for (const f of readdirSync(concept).filter((f) => f.endsWith('.png')))
  copyFileSync(join(concept, f), join(images, 'cat', f));
// A file outside every root, and one inside that holds the same bytes (an error must not echo it either).
const secretBytes = new TextEncoder().encode(`${marker} ${marker} private key material`);
writeFileSync(join(secret, 'key.safetensors'), secretBytes);
writeFileSync(join(secret, 'inner/key.safetensors'), secretBytes);
writeFileSync(join(images, 'leaky.safetensors'), secretBytes);
symlinkSync(secret, join(images, 'link'));
symlinkSync(secret, join(runs, 'escape'));
symlinkSync(join(secret, 'inner'), join(images, 'deep/up')); // deep/up/.. is the secret folder on disk
const haveFifo = spawnSync('mkfifo', [join(images, 'fifo.pt')]).status === 0;
// A .pt whose pickle holds a 1 MB integer (LONG4): parsing it naively is quadratic.
const bomb = new Uint8Array(1 + 2 + 1 + 4 + 2 ** 20 + 1);
bomb.set([0x80, 0x02, 0x8b], 0);
new DataView(bomb.buffer).setUint32(3, 2 ** 20, true);
bomb.fill(0x7f, 7, 7 + 2 ** 20);
bomb[bomb.length - 1] = 0x2e; // STOP
writeFileSync(join(images, 'bomb.pt'), storedZip({ 'archive/data.pkl': bomb }));
writeFileSync(join(images, 'broken.pt'), new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9]));

let server: Subprocess<'ignore', 'pipe', 'pipe'>;
let url = '';
const output: string[] = [];

beforeAll(async () => {
  server = Bun.spawn(
    [
      process.execPath,
      join(project, 'adapters/cli/main.ts'),
      'serve',
      ...['--port', '0', '--images-root', images, '--out-root', runs, '--model-root', images],
      ...['--max-runs', '1', '--max-queued', '0', '--max-request-gib', '0.25', '--upload-dir', join(base, 'uploads')],
    ],
    { stdout: 'pipe', stderr: 'pipe', cwd: base },
  );
  const reader = server.stdout.getReader();
  const decoder = new TextDecoder();
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server did not start: ${await new Response(server.stderr).text()}`);
    output.push(decoder.decode(value));
    url = /listening on (http:\/\/\S+)/.exec(output.join(''))?.[1] ?? '';
  }
}, 60_000);

afterAll(() => server?.kill());

/** Every answer goes through here: its bytes must never hold the secret. */
const call = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${url}${path}`, init);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder('latin1').decode(bytes);
  expect(text).not.toContain(marker);
  let error: { code?: string; message?: string; field?: string } = {};
  try {
    error = JSON.parse(text).error ?? {};
  } catch {}
  return { status: res.status, headers: res.headers, text, error };
};
const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const generate = (more: Record<string, unknown>, headers?: Record<string, string>) =>
  call('/v1/generate', json({ prompt: 'a red circle', steps: 1, ...more }, headers));

describe('the attack catalogue', () => {
  test('paths outside the roots are forbidden, existing or not, however they get out', async () => {
    for (const e of [
      join(secret, 'key.safetensors'),
      join(secret, 'nothing-here.safetensors'),
      'link/key.safetensors',
      'deep/up/../key.safetensors',
      `${images}/../../secret/key.safetensors`,
    ]) {
      const r = await generate({ embeddings: [e] });
      expect([r.status, r.error.code, r.error.field]).toEqual([403, 'forbidden', 'embeddings[0]']);
    }
    expect((await generate({ model: secret })).status).toBe(403);
    const train = await call('/v1/train', json({ token: '<x>', init: 'disc', images: secret, steps: 1 }));
    expect([train.status, train.error.field]).toEqual([403, 'images']);
    const out = await call('/v1/train', json({ token: '<x>', init: 'disc', images: 'cat', out: secret, steps: 1 }));
    expect([out.status, out.error.field]).toEqual([403, 'out']);
    expect((await call('/v1/pretrain', json({ out: 'escape/run' }))).status).toBe(403);
  });

  test("a stream pipeline's generate stage is held to the same folders", async () => {
    const description = {
      kind: 'stream',
      model: 'tiny',
      stages: [{ use: 'generate', with: { prompt: 'x', steps: 1, embeddings: [join(secret, 'key.safetensors')] } }],
    };
    const r = await call('/v1/pipelines/run', json(description));
    expect(r.text).toContain('forbidden');
    expect(r.text).not.toContain('"done"');
  });

  test('a FIFO, a broken zip, a pickle bomb and a file that is no embedding are refused with 400, saying nothing of their bytes', async () => {
    if (haveFifo) expect((await generate({ embeddings: ['fifo.pt'] })).status).toBe(400);
    for (const f of ['broken.pt', 'bomb.pt', 'leaky.safetensors']) {
      const r = await generate({ embeddings: [f] });
      expect([f, r.status, r.error.code]).toEqual([f, 400, 'bad_embedding']);
    }
  });

  test('/health answers within a second while a request body is still arriving', async () => {
    const slow = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new TextEncoder().encode('{"prompt": "a red')), // and never closes
    });
    const pending = fetch(`${url}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: slow.signal,
      duplex: 'half',
    } as RequestInit).catch(() => undefined);
    const health = fetch(`${url}/health`).then((r) => r.status);
    const late = new Promise((resolve) => setTimeout(() => resolve('no answer within 1 s'), 1000));
    expect(await Promise.race([health, late])).toBe(200);
    slow.abort();
    await pending;
  });

  test('web pages of other origins, other Host names and loose content types are refused', async () => {
    expect((await generate({}, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await call('/v1/runs', { headers: { host: 'rebound.evil.example' } })).status).toBe(403);
    const plain = await call('/v1/generate', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"prompt":"x"}',
    });
    expect([plain.status, plain.error.code]).toEqual([415, 'unsupported_media_type']);
  });

  test('sizes past the schema, the model or the memory limit are refused before anything runs', async () => {
    expect((await generate({ width: 4096, height: 64 })).error.field).toBe('width');
    const model = await generate({ width: 512, height: 512 });
    expect([model.status, model.error.field]).toEqual([400, 'width']);
    const memory = await generate({ width: 256, height: 256 });
    expect([memory.status, memory.error.code]).toEqual([413, 'too_large']);
    expect(memory.error.message).toContain('--max-request-gib');
  });

  test('a bad upload is a 400 before any stream, and uploads never show as server paths', async () => {
    const form = new FormData();
    form.set('request', JSON.stringify({ token: '<x>', init: 'disc', steps: 1 }));
    form.append('images', new File([new Uint8Array(64).fill(9)], 'a.png'));
    const r = await call('/v1/train', { method: 'POST', body: form });
    expect([r.status, r.error.code, r.error.field]).toEqual([400, 'bad_image', 'images[0]']);
    expect((await call('/v1/runs')).text).not.toContain(join(base, 'uploads'));
  });

  test('past --max-runs and --max-queued a request gets 429 with Retry-After', async () => {
    const first = new AbortController();
    const running = await fetch(`${url}/v1/generate`, {
      ...json({ prompt: 'a slow one', steps: 1000 }),
      signal: first.signal,
    });
    expect(running.status).toBe(200);
    const reader = running.body!.getReader();
    await reader.read(); // the run has started and holds the only slot
    const busy = await generate({});
    expect([busy.status, busy.error.code]).toEqual([429, 'busy']);
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
    first.abort();
    await reader.cancel().catch(() => {});
    // A generation whose client left waits a few seconds for it to re-attach; this test frees the slot now.
    expect((await call(`/v1/runs/${running.headers.get('x-run-id')}`, { method: 'DELETE' })).status).toBe(200);
  });

  test('a normal generation still works, and the peak memory stayed bounded', async () => {
    let r = await generate({ steps: 2, seed: 3 });
    for (let i = 0; i < 20 && r.status === 429; i++) {
      await Bun.sleep(250); // the cancelled run gives its slot back after its current step
      r = await generate({ steps: 2, seed: 3 });
    }
    expect(r.status).toBe(200);
    expect(r.text).toContain('image');
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1]) * 1024;
    expect(hwm).toBeLessThan(2 * 2 ** 30);
  });
});
