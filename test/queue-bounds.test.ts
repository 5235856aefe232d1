/**
 * The queue's bounds and failures, in one process against a real Redis: the queue-length limit (429 with
 * Retry-After), a waiting run cancelled, a worker that hands back the kinds it does not take, a request's own error
 * that is not retried, the job time limit, and a Redis restart in the middle of a training run, which pauses the run
 * instead of losing it. Skipped, with a message, where Debian's redis-server is not installed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder } from '@msgpack/msgpack';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { lastValueFrom, toArray } from 'rxjs';
import { openModel } from '../adapters/open-model.ts';
import { connectRedis } from '../adapters/queue/connection.ts';
import { transientCodes } from '../adapters/queue/jobs.ts';
import { keys } from '../adapters/queue/keys.ts';
import { queueRuns } from '../adapters/queue/queue-runs.ts';
import { startWorker } from '../adapters/queue/worker.ts';
import { serverApp } from '../adapters/server-app.ts';
import type { Frame } from '../common/frames.ts';
import { pipelinesRoutes } from '../pipeline/http/pipelines-routes.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import { haveRedis, type RedisServer, startRedis } from './support/redis-server.ts';
import { until } from './support/until.ts';

if (!haveRedis) console.warn('skipped: redis-server is not installed (apt-get install redis-server)');

const project = join(import.meta.dir, '..');
const base = realpathSync(mkdtempSync(join(tmpdir(), 'pseudoword-queue-bounds-')));
const concept = join(project, 'examples/concepts/bullseye');
/** The concept's images (and captions) by name, as the API puts them in Redis for the workers. */
const images = Object.fromEntries(
  readdirSync(concept).map((f) => [f, new Uint8Array(readFileSync(join(concept, f)))] as const),
);
const trainRequest = (steps: number) => ({
  token: '<disc>',
  init: 'circle',
  images: 'disc',
  steps,
  saveEvery: 10,
  validateEvery: 0,
  seed: 3,
});

let server: RedisServer;
let redis: Redis;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  server = await startRedis();
  redis = await connectRedis(server.url);
});

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  redis?.disconnect();
  server?.kill();
});

const worker = async (o: Partial<Parameters<typeof startWorker>[0]> = {}, url = server.url, r = redis) => {
  const w = await startWorker({ url, redis: r, outRoot: join(base, 'worker'), lockMs: 5000, ...o });
  closers.push(() => w.close());
  return w;
};
const runs = async (url = server.url, r = redis) => {
  const q = await queueRuns({ url, redis: r, pollMs: 100 });
  closers.push(() => q.close());
  return q;
};
const all = (frames: import('rxjs').Observable<Frame>) => lastValueFrom(frames.pipe(toArray()));

describe.skipIf(!haveRedis)('the queue, bounded', () => {
  // First, while no worker runs: everything submitted waits.
  test('past its queue-length limit the API answers 429 with Retry-After, and a waiting run cancels at once', async () => {
    const { app, close } = await serverApp({
      host: '127.0.0.1',
      imageRoots: [base],
      outRoot: join(base, 'api-runs'),
      modelRoots: [base],
      uploadRoot: mkdtempSync(join(tmpdir(), 'pseudoword-bounds-up-')),
      maxUploadBytes: 2 ** 20,
      queue: server.url,
      maxQueued: 1,
    });
    closers.push(close);
    const post = () =>
      app.request('/v1/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'a waiting ring', steps: 2 }),
      });
    const first = await post();
    expect(first.status).toBe(200);
    const id = first.headers.get('x-run-id')!;
    // The job is in the queue once the stream has started following it.
    const frames = decodeFrames(first.body!)[Symbol.asyncIterator]();
    const firstFrame = frames.next();
    for (let i = 0; i < 100 && !(await redis.exists(`bull:pseudoword-runs:${id}`)); i++) await Bun.sleep(20);

    const second = await post();
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('busy');

    expect((await app.request(`/v1/runs/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await firstFrame).value).toMatchObject({ type: 'error', code: 'cancelled' });
    expect(await redis.hget(keys.run(id), 'state')).toBe('cancelled');
  }, 30_000);

  test('a worker hands back a kind it does not take, spending no attempt, and one that takes it runs it', async () => {
    const q = await runs();
    const trainOnly = await worker({ kinds: ['train'] });
    const id = crypto.randomUUID();
    const frames = all(q.submit('generate', id, { prompt: 'a handed-back ring', steps: 2 }, undefined));
    await Bun.sleep(1500); // the train-only worker has seen it several times by now
    const job = await q.queue.getJob(id);
    expect(job?.attemptsMade).toBe(0);
    expect(['waiting', 'delayed', 'prioritized']).toContain(await job!.getState());
    expect(await redis.hget(keys.run(id), 'state')).toBe('queued');

    await worker({ kinds: ['generate'] });
    const got = await frames;
    expect(got.at(-1)?.type).toBe('done');
    expect(got.some((f) => f.type === 'image')).toBe(true);
    await trainOnly.close();
  }, 60_000);

  test("a request's own error fails its run at once, with no retry", async () => {
    const q = await runs();
    const id = crypto.randomUUID();
    // The worker opens the model: a folder that is not there is the request's fault on any machine.
    const got = await all(
      q.submit('generate', id, { prompt: 'x', steps: 1, model: join(base, 'no-such-model') }, undefined),
    );
    const last = got.at(-1);
    expect(last?.type).toBe('error');
    expect(transientCodes.has((last as { code: string }).code)).toBe(false);
    // The frame is written before BullMQ records the failure: wait for that.
    const job = await until('BullMQ to record the failure', async () => {
      const j = await q.queue.getJob(id);
      return (await j?.getState()) === 'failed' ? j : undefined;
    });
    // Past the first retry's backoff (2 s), it was started once and is still failed: never retried.
    await Bun.sleep(2500);
    expect(await job.getState()).toBe('failed');
    expect((await q.queue.getJob(id))!.attemptsStarted).toBe(1);
    expect(await redis.hget(keys.run(id), 'state')).toBe('failed');
  }, 60_000);

  test('the job time limit stops a run that runs past it, saying why', async () => {
    const q = await runs();
    const w = await worker({ kinds: ['train'], jobTimeoutMs: 1500 });
    const id = crypto.randomUUID();
    const got = await all(q.submit('train', id, trainRequest(100_000), undefined, images));
    await w.close();
    expect(got.at(-1)).toMatchObject({ type: 'error', code: 'cancelled' });
    expect((got.at(-1) as { message: string }).message).toContain('--job-timeout');
    expect(await redis.hget(keys.run(id), 'state')).toBe('cancelled');
    // Ended runs drop their images from Redis and keep the rest for the retention period.
    expect(await redis.exists(keys.images(id))).toBe(0);
    expect(await redis.ttl(keys.run(id))).toBeGreaterThan(0);
  }, 60_000);

  test('a lock shorter than the step session takes to open is held through the open: the run is not taken over', async () => {
    // onnxruntime-node opens sessions on the JS thread (tiny's step graph: over a second here; a real model's:
    // minutes), so no lock renewal runs meanwhile. Without the extension before each open, a 1 s lock lapses,
    // the job is taken over from its start, and loses its lock the same way each time.
    const q = await runs();
    const logs: string[] = [];
    const w = await worker({ kinds: ['train'], lockMs: 1000, log: (m) => logs.push(m) });
    const id = crypto.randomUUID();
    const got = await all(q.submit('train', id, { ...trainRequest(3), saveEvery: 0 }, undefined, images));
    await w.close();
    expect(got.at(-1)).toMatchObject({ type: 'done' });
    expect(logs.filter((l) => /lost its lock|could not renew/.test(l))).toEqual([]);
    expect(await redis.hget(keys.run(id), 'attempts')).toBe('1');
  }, 60_000);

  test('a stream pipeline runs as a job, with the same latents as in-process, and its files checked by the worker', async () => {
    const w = await worker({ kinds: ['pipeline'] });
    const { app, close } = await serverApp({
      host: '127.0.0.1',
      imageRoots: [base],
      outRoot: join(base, 'api-runs-2'),
      modelRoots: [base],
      maxUploadBytes: 2 ** 20,
      uploadRoot: mkdtempSync(join(tmpdir(), 'pseudoword-bounds-up-')),
      queue: server.url,
    });
    closers.push(close);
    const description = JSON.parse(readFileSync(join(project, 'examples/pipelines/encode-images.json'), 'utf8'));
    // More frames than a late reader's window of droppable frames (8): a pipeline's latents are results, all kept.
    const some = Object.entries(images).filter(([n]) => n.endsWith('.png'));
    const pngs = Array.from({ length: 12 }, (_, i) => some[i % some.length]);
    const body = (d: unknown) => {
      const encoder = new Encoder({ ignoreUndefined: true });
      const frames = pngs.map(([, png], index) => ({
        type: 'image',
        runId: 'client',
        index,
        width: 64,
        height: 64,
        png,
      }));
      return new Blob([encoder.encode(d), ...frames.map((f) => encoder.encode(f))]);
    };
    const run = async (a: { request: typeof app.request }, d: unknown) => {
      const res = await a.request('/v1/pipelines/run', {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.msgpack' },
        body: body(d),
      });
      const out: Frame[] = [];
      for await (const f of decodeFrames(res.body!)) out.push(f);
      return out;
    };
    const queued = await run(app, description);
    const expected = [...Array(12).fill('latent'), 'done'];
    expect(queued.map((f) => f.type)).toEqual(expected);
    const local = await run(pipelinesRoutes(new Hono(), { openModel: (n, d) => openModel(n, d) }), description);
    expect(local.map((f) => f.type)).toEqual(expected);
    for (let i = 0; i < 12; i++) {
      const [q, l] = [queued[i], local[i]] as { tensor: { data: Uint8Array } }[];
      expect(Buffer.from(q.tensor.data).equals(Buffer.from(l.tensor.data))).toBe(true);
    }
    // The API compiled it; the worker opens the model, so the worker applies the folders' policy.
    const outside = await run(app, { ...description, model: '/etc' });
    expect(outside.at(-1)).toMatchObject({ type: 'error', code: 'forbidden' });
    await w.close();
  }, 120_000);

  test('Redis restarted in the middle of a training run: the run waits for it and ends with every step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-redis-durable-'));
    let durable = await startRedis({ dir });
    const r = await connectRedis(durable.url);
    const q = await queueRuns({ url: durable.url, redis: r, pollMs: 100 });
    const w = await startWorker({ url: durable.url, redis: r, outRoot: join(base, 'worker'), lockMs: 5000 });
    const id = crypto.randomUUID();
    const steps = 60;
    const seen: Frame[] = [];
    const done = new Promise<void>((resolve, reject) =>
      q.submit('train', id, trainRequest(steps), undefined, images).subscribe({
        next: (f) => seen.push(f),
        error: reject,
        complete: resolve,
      }),
    );
    for (let i = 0; i < 600 && !seen.some((f) => f.type === 'loss' && f.step >= 5); i++) await Bun.sleep(50);
    durable.kill();
    await Bun.sleep(700);
    durable = await startRedis({ dir, port: durable.port });
    await done;
    await w.close();
    await q.close();
    r.disconnect();
    durable.kill();
    expect(seen.at(-1)?.type).toBe('done');
    const lossSteps = new Set(seen.flatMap((f) => (f.type === 'loss' ? [f.step] : [])));
    expect([...Array(steps).keys()].every((s) => lossSteps.has(s + 1))).toBe(true);
  }, 120_000);
});
