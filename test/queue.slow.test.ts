/**
 * Runs on many machines, tried on one: a real Redis, two API processes (`serve --queue`) and two workers, all on
 * loopback. Jobs spread over the workers; a client on one API follows a run while the other API cancels another;
 * a worker killed with SIGKILL mid-training loses nothing — its job finishes on the other worker with the same
 * embedding bytes as an uninterrupted run; an API killed the same way leaves its runs readable from the other.
 * Skipped, with a message, where Debian's redis-server is not installed (.ci/run installs it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import type { Frame } from '../common/frames.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import { haveRedis, startRedis } from './support/redis-server.ts';
import { until } from './support/until.ts';

const project = join(import.meta.dir, '..');
if (!haveRedis) console.warn('skipped: redis-server is not installed (apt-get install redis-server)');

const base = realpathSync(mkdtempSync(join(tmpdir(), 'pseudoword-queue-')));
const images = join(base, 'images');
mkdirSync(join(images, 'disc'), { recursive: true });
const concept = join(project, 'examples/concepts/bullseye');
for (const f of readdirSync(concept)) copyFileSync(join(concept, f), join(images, 'disc', f));

type Proc = Subprocess<'ignore', 'pipe', 'pipe'>;
const procs: Proc[] = [];

/** Starts a pseudoword process and waits for the line that says it is ready. */
const start = async (args: string[], ready: RegExp): Promise<{ proc: Proc; line: string }> => {
  const proc = Bun.spawn([process.execPath, join(project, 'adapters/cli/main.ts'), ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
    cwd: base,
  });
  procs.push(proc);
  const reader = proc.stdout.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args[0]} did not start: ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
    const m = ready.exec(text);
    if (m) return { proc, line: m[1] ?? m[0] };
  }
};

let redisUrl = '';
let apiA = '';
let apiB = '';
let apiAProc: Proc;
const workers: Proc[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  const redis = await startRedis();
  procs.push(redis.proc as unknown as Proc);
  redisUrl = redis.url;
  const worker = ['worker', '--queue', redisUrl, '--lock-seconds', '2', '--out-root', join(base, 'worker-runs')];
  for (let i = 0; i < 2; i++) workers.push((await start(worker, /taking .* runs/)).proc);
  const api = ['serve', '--port', '0', '--queue', redisUrl, '--images-root', images, '--model-root', images];
  const uploads = (name: string) => ['--upload-dir', mkdtempSync(join(tmpdir(), `pseudoword-${name}-`))];
  const a = await start([...api, '--out-root', join(base, 'runs'), ...uploads('up-a')], /listening on (http:\S+)/);
  apiA = a.line;
  apiAProc = a.proc;
  apiB = (await start([...api, '--out-root', join(base, 'runs'), ...uploads('up-b')], /listening on (http:\S+)/)).line;
}, 60_000);

afterAll(() => {
  for (const p of procs) p.kill(9);
});

const post = (api: string, path: string, body: unknown) =>
  fetch(`${api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};
const statusOf = async (api: string, id: string) => (await (await fetch(`${api}/v1/runs/${id}`)).json()) as any;
const train = { token: '<disc>', init: 'circle', images: 'disc', steps: 300, saveEvery: 25, validateEvery: 0, seed: 5 };

describe.skipIf(!haveRedis)('runs on a queue', () => {
  test('a client on one API follows a generation a worker runs, and the other API reports the worker', async () => {
    const res = await post(apiA, '/v1/generate', { prompt: 'a red circle', steps: 3, seed: 1 });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-run-id')!;
    const frames = await framesOf(res);
    expect(frames.some((f) => f.type === 'image')).toBe(true);
    expect(frames.at(-1)!.type).toBe('done');
    const s = await until('the run on API B', async () => {
      // B follows the run's frames from Redis on its own: it reads the end a moment after A's client did.
      const st = await statusOf(apiB, id);
      // (and the worker writes the run's state to Redis just after its last frame).
      return st.queue?.pid && st.status === 'done' && st.queue.state === 'done' ? st : undefined;
    });
    expect(workers.map((w) => w.pid)).toContain(s.queue.pid);
  });

  test('six runs spread over both workers', async () => {
    const ids = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const res = await post(i % 2 ? apiA : apiB, '/v1/train?detach=1', {
          ...train,
          steps: 2,
          saveEvery: 0,
          seed: i,
        });
        expect(res.status).toBe(202);
        return res.headers.get('x-run-id')!;
      }),
    );
    const pids = await Promise.all(
      ids.map((id) =>
        until(`run ${id} to finish`, async () => {
          const s = await statusOf(apiA, id);
          return s.status === 'done' && s.queue?.state === 'done' ? (s.queue.pid as number) : undefined;
        }),
      ),
    );
    expect(new Set(pids).size).toBe(2);
  }, 120_000);

  test('one API cancels a run another API streams, within a step, while a run beside it goes on', async () => {
    const res = await post(apiA, '/v1/generate', { prompt: 'a slow star', steps: 500 });
    const id = res.headers.get('x-run-id')!;
    const beside = post(apiA, '/v1/generate', { prompt: 'a quick ring', steps: 20 }).then(framesOf);
    const reader = decodeFrames(res.body!)[Symbol.asyncIterator]();
    await reader.next(); // it is running
    await until('the run to show on API B', async () => ((await statusOf(apiB, id)).id ? true : undefined));
    expect((await fetch(`${apiB}/v1/runs/${id}`, { method: 'DELETE' })).status).toBe(200);
    let last: Frame | undefined;
    let steps = 0;
    for (let r = await reader.next(); !r.done; r = await reader.next()) {
      last = r.value;
      if (r.value.type === 'progress') steps = r.value.step;
    }
    expect(last).toMatchObject({ type: 'error', code: 'cancelled' });
    expect(steps).toBeLessThan(500);
    expect((await beside).at(-1)!.type).toBe('done');
  }, 60_000);

  test("a worker killed mid-training loses nothing: the other finishes the run with an uninterrupted run's bytes", async () => {
    const straight = await post(apiB, '/v1/train?detach=1', train);
    const straightId = straight.headers.get('x-run-id')!;
    await until(
      'the uninterrupted run',
      async () => ((await statusOf(apiB, straightId)).status === 'done' ? true : undefined),
      120_000,
    );
    const expected = new Uint8Array(await (await fetch(`${apiB}/v1/runs/${straightId}/embedding`)).arrayBuffer());

    const res = await post(apiA, '/v1/train?detach=1', train);
    const id = res.headers.get('x-run-id')!;
    const holder = await until('a checkpoint', async () => {
      const s = await statusOf(apiA, id);
      return s.queue?.checkpoints >= 1 && s.status === 'running' ? (s.queue.pid as number) : undefined;
    });
    workers.find((w) => w.pid === holder)!.kill(9);
    const done = await until(
      'the run to finish elsewhere',
      async () => {
        const s = await statusOf(apiB, id);
        return s.status === 'done' && s.queue?.state === 'done' ? s : undefined;
      },
      120_000,
    );
    expect(done.queue.pid).not.toBe(holder);
    const bytes = new Uint8Array(await (await fetch(`${apiB}/v1/runs/${id}/embedding`)).arrayBuffer());
    expect(bytes.length).toBeGreaterThan(0);
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
  }, 240_000);

  test('an API killed the same way leaves its runs to the other, which replays them', async () => {
    const res = await post(apiA, '/v1/generate', { prompt: 'a blue ring', steps: 2 });
    const id = res.headers.get('x-run-id')!;
    await framesOf(res);
    apiAProc.kill(9);
    // B learns of A's runs by polling Redis (every 500 ms): wait until it lists this one.
    await until('the run on API B', async () => ((await fetch(`${apiB}/v1/runs/${id}`)).ok ? true : undefined));
    const replay = await framesOf(await fetch(`${apiB}/v1/runs/${id}/frames`));
    expect(replay.some((f) => f.type === 'image')).toBe(true);
    expect(replay.at(-1)!.type).toBe('done');
  }, 60_000);

  test('an API that cannot reach Redis says so at start', () => {
    const r = spawnSync(
      process.execPath,
      [join(project, 'adapters/cli/main.ts'), 'serve', '--port', '0', '--queue', 'redis://127.0.0.1:1'],
      {
        cwd: base,
        timeout: 30_000,
      },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr.toString()).toContain('cannot reach Redis at redis://127.0.0.1:1');
  });
});
