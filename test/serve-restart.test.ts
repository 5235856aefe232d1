/**
 * The scenario for real: `pseudoword serve` is killed with SIGKILL in the middle of a training run and
 * started again over the same --out-root. The run is listed as interrupted with its frames, its last checkpoint's
 * embedding downloads, and `POST /v1/runs/:id/resume` finishes it with the embedding an uninterrupted run writes.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import type { Frame } from '../common/frames.ts';
import type { RunStatus } from '../pipeline/runs/run-status.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import { conceptFolder } from './train-helpers.ts';

const project = join(import.meta.dir, '..');
const images = await conceptFolder(2);
const outRoot = mkdtempSync(join(tmpdir(), 'pseudoword-restart-'));
const servers: Subprocess[] = [];

const serve = async () => {
  const server = Bun.spawn(
    [
      process.execPath,
      join(project, 'adapters/cli/main.ts'),
      'serve',
      ...['--port', '0', '--images-root', images, '--out-root', outRoot, '--max-runs', '2'],
      ...['--upload-dir', mkdtempSync(join(tmpdir(), 'pseudoword-restart-uploads-'))],
    ],
    { stdout: 'pipe', stderr: 'pipe', cwd: outRoot },
  );
  servers.push(server);
  const reader = server.stdout.getReader();
  let out = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server did not start: ${await new Response(server.stderr).text()}`);
    out += new TextDecoder().decode(value);
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    if (url) return { server, url };
  }
};
afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
});

const request = { images, token: '<disc>', init: 'circle', steps: 30, lr: 0.05, validateEvery: 0, saveEvery: 5 };
const post = (url: string, body?: unknown) =>
  fetch(url, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
const statusOf = async (url: string) => (await (await fetch(url)).json()) as RunStatus;
const waitFor = async (url: string, done: (s: RunStatus) => boolean) => {
  for (let i = 0; i < 2400; i++) {
    const s = await statusOf(url);
    if (done(s)) return s;
    await Bun.sleep(50);
  }
  return statusOf(url);
};
const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};

describe('a server killed with SIGKILL during a training run', () => {
  test('lists the run as interrupted after a restart, replays and serves it, and resumes it to the uninterrupted result', async () => {
    const first = await serve();
    const id = (await post(`${first.url}/v1/train?detach=1`, request)).headers.get('x-run-id')!;
    // Past the step-5 checkpoint and well before the end: kill -9, no chance to write anything more.
    const before = await waitFor(`${first.url}/v1/runs/${id}`, (s) => s.step >= 7 || s.status !== 'running');
    expect(before.status).toBe('running');
    first.server.kill('SIGKILL');
    await first.server.exited;

    const second = await serve();
    const listed = ((await (await fetch(`${second.url}/v1/runs`)).json()) as RunStatus[]).find((r) => r.id === id)!;
    expect(listed.status).toBe('interrupted');
    expect(listed.step).toBeGreaterThanOrEqual(7);
    expect(listed.step).toBeLessThan(30);
    const replay = await framesOf(await fetch(`${second.url}/v1/runs/${id}/frames`));
    const losses = replay.flatMap((f) => (f.type === 'loss' ? [f.step] : []));
    expect(losses.slice(0, 7)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(replay.at(-1)).toMatchObject({ type: 'error', code: 'interrupted' });
    expect((await fetch(`${second.url}/v1/runs/${id}/embedding`)).status).toBe(200);

    expect((await post(`${second.url}/v1/runs/${id}/resume?detach=1`)).status).toBe(202);
    const whole = (await post(`${second.url}/v1/train?detach=1`, request)).headers.get('x-run-id')!;
    for (const r of [id, whole])
      expect(await waitFor(`${second.url}/v1/runs/${r}`, (s) => s.status !== 'running')).toMatchObject({
        status: 'done',
        step: 30,
      });
    const bytes = async (r: string) =>
      new Uint8Array(await (await fetch(`${second.url}/v1/runs/${r}/embedding`)).arrayBuffer());
    expect(await bytes(id)).toEqual(await bytes(whole));
  }, 240_000);
});
