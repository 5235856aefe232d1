/**
 * The API side of the queue: runs become BullMQ jobs, and every API process sees every run. Each process keeps a
 * local mirror of the runs (the same in-process registry the embedded server uses), fed from Redis: the runs it
 * starts follow their job's frame streams, and a poller adopts runs other API processes started, so listing,
 * re-attaching, replaying and cancelling work from any process. A run's status adds what only Redis knows: which
 * worker holds it (host and pid), its state in the queue, its attempts and its checkpoints.
 */
import { type ConnectionOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { defer, finalize, from, type Observable, switchMap, tap } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { createRunRegistry, type Run, type RunRegistry } from '../../pipeline/runs/run-registry.ts';
import type { RunKind, RunStatus } from '../../pipeline/runs/run-status.ts';
import { redisOptions } from './connection.ts';
import { appendFrame, followFrames, isLast } from './frame-log.ts';
import { priorities, type RunJob } from './jobs.ts';
import { keys, queueName } from './keys.ts';
import { endRun, pruneRunIndex } from './run-end.ts';

export interface QueueRunsOptions {
  url: string;
  redis: Redis;
  /** Jobs waiting in the queue before new runs are refused with `busy` (429). */
  maxQueued?: number;
  /** Attempts for a job that fails with a transient error (the request's own errors are never retried). */
  attempts?: number;
  /** How often other API processes' runs and the workers' run states are read (ms). */
  pollMs?: number;
}

/** What only Redis knows about a run. */
interface QueueState {
  state?: string;
  worker?: string;
  pid?: number;
  attempts?: number;
  checkpoints?: number;
  createdAt?: string;
}

const queueStateOf = (h: Record<string, string>): QueueState => ({
  ...(h.state ? { state: h.state } : {}),
  ...(h.worker ? { worker: h.worker } : {}),
  ...(h.pid ? { pid: Number(h.pid) } : {}),
  ...(h.attempts ? { attempts: Number(h.attempts) } : {}),
  ...(h.checkpoints ? { checkpoints: Number(h.checkpoints) } : {}),
  ...(h.createdAt ? { createdAt: h.createdAt } : {}),
});

/**
 * @example
 * const q = await queueRuns({ url, redis });
 * createApp({ runs: q.registry, generate: (req, _s, pipeline, id) => q.submit('generate', id!, req, pipeline) });
 */
export const queueRuns = async (o: QueueRunsOptions) => {
  const { redis } = o;
  const queue = new Queue(queueName, { connection: redisOptions(o.url) as ConnectionOptions });
  // Redis going away is waited out (ioredis reconnects); an unheard 'error' event would end the process instead.
  queue.on('error', () => {});
  await queue.waitUntilReady();
  const local = createRunRegistry();
  const states = new Map<string, QueueState>();

  // The local run, with what Redis knows added to its status and its cancel sent to whichever worker holds it.
  const withQueueState = (run: Run): Run =>
    Object.assign(Object.create(run) as Run, {
      // A run adopted from another API process was created when that process took it, not when this one saw it.
      status: () => {
        const { createdAt, ...queueState } = states.get(run.id) ?? {};
        return { ...run.status(), ...(createdAt ? { createdAt } : {}), queue: queueState } as RunStatus;
      },
      cancel: (reason?: string) => (void cancel(run.id, reason), run.status()),
    });

  const cancel = async (id: string, reason = 'cancelled') => {
    const job = await queue.getJob(id);
    // Still waiting: no worker will ever run it, so the API writes its end itself.
    // (A job with a priority waits as 'prioritized'; one handed back by a worker of other kinds, as 'delayed'.)
    const waiting = job && ['waiting', 'prioritized', 'delayed'].includes(await job.getState().catch(() => ''));
    if (
      job &&
      waiting &&
      (await job.remove().then(
        () => true,
        () => false,
      ))
    ) {
      await endRun(redis, id, 'cancelled'); // before the last frame, so whoever reads that frame sees the state
      await appendFrame(redis, id, { type: 'error', runId: id, code: 'cancelled', message: reason });
      return;
    }
    await redis.publish(keys.cancel, id);
  };

  const adopt = (id: string, h: Record<string, string>) => {
    if (local.get(id) || !h.kind) return;
    let meta: Record<string, unknown> = {};
    try {
      meta = JSON.parse(h.meta ?? '{}');
    } catch {}
    local.start(h.kind as RunKind, id, followFrames(redis, id), meta);
  };

  let since = 0;
  let polls = 0;
  const poll = async () => {
    const ids = await redis.zrangebyscore(keys.runs, since, '+inf');
    for (const id of ids) {
      const h = await redis.hgetall(keys.run(id));
      states.set(id, queueStateOf(h));
      adopt(id, h);
    }
    const final = new Set(['done', 'failed', 'cancelled']);
    for (const run of local.list())
      if (!final.has(states.get(run.id)?.state ?? ''))
        states.set(run.id, queueStateOf(await redis.hgetall(keys.run(run.id))));
    if (polls++ % 120 === 0) await pruneRunIndex(redis); // about once a minute is enough: it only trims a listing
    since = Math.max(0, Date.now() - 60_000); // a window, so a run registered late by a slow process is not missed
  };
  await poll();
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    poll()
      .catch(() => {}) // Redis away: ioredis reconnects; the next poll catches up
      .finally(() => (polling = false));
  }, o.pollMs ?? 500);

  const registry: RunRegistry = {
    start: (kind, id, source, meta = {}) => {
      // Written before the source is subscribed (same connection, so in order): other API processes list it alike.
      void redis.hset(keys.run(id), { kind, meta: JSON.stringify(meta) });
      return withQueueState(local.start(kind, id, source, meta));
    },
    get: (id) => {
      const run = local.get(id);
      return run && withQueueState(run);
    },
    list: () => local.list().map(withQueueState),
    cancel: (id, reason) => {
      const run = local.get(id);
      if (!run) return undefined;
      void cancel(id, reason);
      return run.status();
    },
    attach: (id) => local.attach(id),
  };

  /** Refuses a new run with `busy` (429) while `maxQueued` jobs wait. */
  const admit = async () => {
    const waiting = await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed');
    if (waiting >= (o.maxQueued ?? 64))
      throw new PipelineError('busy', `the queue holds ${waiting} waiting runs, its limit; try again later`, {
        retryAfterS: 30,
      });
  };

  /** Adds a job under the run's id, with its kind's priority and the retry policy for transient errors. */
  const enqueue = (job: RunJob) =>
    queue.add(job.kind, job, {
      jobId: job.id,
      priority: priorities[job.kind],
      attempts: o.attempts ?? 3,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: 1000,
      removeOnFail: 1000,
    });

  /** Enqueues a run (training images ride along in Redis) and follows its frames, once subscribed. */
  const submit = (
    kind: RunKind,
    id: string,
    request: Record<string, unknown>,
    pipeline: unknown,
    images?: Record<string, Uint8Array>,
  ): Observable<Frame> =>
    defer(() =>
      from(
        (async () => {
          const now = Date.now();
          await redis.hset(keys.run(id), {
            kind,
            state: 'queued',
            createdAt: new Date(now).toISOString(),
          });
          if (images && Object.keys(images).length)
            await redis.hset(
              keys.images(id),
              ...Object.entries(images).flatMap(([name, bytes]) => [name, Buffer.from(bytes)]),
            );
          await redis.zadd(keys.runs, now, id);
          const job: RunJob = { kind, id, request, ...(pipeline !== undefined ? { pipeline } : {}) };
          await enqueue(job);
        })(),
      ).pipe(switchMap(() => followFrames(redis, id))),
    );

  /**
   * Enqueues a described stream pipeline with its input (msgpack frames, read whole) and follows its frames. It is
   * not listed among the runs (as in-process pipelines are not); the client leaving cancels it, as in-process.
   */
  const submitPipeline = (
    id: string,
    description: unknown,
    input: Uint8Array[],
    roots: RunJob['roots'],
  ): Observable<Frame> =>
    defer(() => {
      let ended = false;
      return from(
        (async () => {
          await redis.hset(keys.run(id), { kind: 'pipeline', state: 'queued', createdAt: new Date().toISOString() });
          if (input.length) await redis.rpush(keys.inputs(id), ...input.map((b) => Buffer.from(b)));
          const job: RunJob = { kind: 'pipeline', id, request: {}, pipeline: description, roots };
          await enqueue(job);
        })(),
      ).pipe(
        switchMap(() => followFrames(redis, id)),
        tap((f) => (ended ||= isLast(f))),
        finalize(() => {
          if (!ended) void cancel(id, 'the client went away').catch(() => {});
        }),
      );
    });

  /** A file a worker checkpointed for a run (by its base name), from Redis. */
  const readFile = async (path: string): Promise<Uint8Array | undefined> => {
    const id = [...local.list()].find((r) => (r.status().embedding as string | undefined) === path)?.id;
    if (!id) return undefined;
    const b = await redis.hgetBuffer(keys.files(id), path.slice(path.lastIndexOf('/') + 1));
    return b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : undefined;
  };

  return {
    registry,
    admit,
    submit,
    submitPipeline,
    readFile,
    queue,
    async close() {
      clearInterval(timer);
      await queue.close();
    },
  };
};
