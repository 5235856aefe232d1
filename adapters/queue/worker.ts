/**
 * A queue worker: takes run jobs from BullMQ, runs them with the same code as the in-process server, and writes
 * every frame to the run's Redis Streams. Training keeps its checkpoints (the learned embedding and the optimizer
 * state, a few KB) in Redis as well as on local disk, so when a worker dies (kill -9, a lost machine) BullMQ's
 * stalled-job check hands the job to another worker, which resumes from the last checkpoint and finishes with the
 * same bytes an uninterrupted run would have written. Training images travel in Redis too, so a worker needs no
 * access to the API's disk; models and embedding files must sit at the same paths on every machine (or be 'tiny').
 */
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { type ConnectionOptions, DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { defer, finalize, from, lastValueFrom, type Observable, Subject, switchMap, takeUntil, tap } from 'rxjs';
import { Decoder } from '@msgpack/msgpack';
import { asPipelineError, PipelineError } from '../../common/errors.ts';
import { type Frame, parseFrame } from '../../common/frames.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import { parseTrainRequest } from '../../common/train/train-request.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import { guardPipelineDeps, pathPolicy } from '../../pipeline/http/path-policy.ts';
import { buildPipeline } from '../../pipeline/stream-pipelines/build-pipeline.ts';
import { stageRegistry } from '../../pipeline/stream-pipelines/built-in-stages.ts';
import { compilePipeline } from '../../pipeline/stream-pipelines/compile-pipeline.ts';
import { pipelineFrameStream } from '../../pipeline/stream-pipelines/frame-stream.ts';
import { decodeFrames } from '../../pipeline/wire/msgpack-stream.ts';
import { parsePretrainRequest } from '../../pipeline/pretrain/pretrain-request.ts';
import { runTrain } from '../../pipeline/train/run-train.ts';
import { stateFileName } from '../../weights/training/checkpoint-files.ts';
import { loadEmbeddingsInto } from '../load-embeddings.ts';
import { loadLoraInto } from '../load-lora.ts';
import { openModel } from '../open-model.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { pretrainJob } from '../pretrain-job.ts';
import { diskProbe } from '../safe-files.ts';
import { trainDeps } from '../train-deps.ts';
import { redisOptions } from './connection.ts';
import { appendFrame } from './frame-log.ts';
import { JobKind, RunJob, transientCodes } from './jobs.ts';
import { keys, queueName } from './keys.ts';
import { endRun } from './run-end.ts';

const inputDecoder = new Decoder();

/** How long a job this worker does not take waits before any worker may pick it again. */
const handBackMs = 250;

export interface WorkerOptions {
  url: string;
  redis: Redis;
  concurrency?: number;
  device?: 'cpu' | 'cuda';
  kinds?: JobKind[];
  /** Local folder for run outputs (checkpoints are mirrored to Redis). */
  outRoot: string;
  /** Longest a job may run before it is stopped and failed (default: none). */
  jobTimeoutMs?: number;
  /** How long a job's lock lasts without renewal; a dead worker's job is taken over after about this long. */
  lockMs?: number;
  /**
   * How long the lock is held before a session opens (default 15 min): onnxruntime-node opens sessions on the JS
   * thread, so the lock cannot be renewed while it plans a graph — minutes for a real model's training step.
   */
  openLockMs?: number;
  log?: (m: string) => void;
}

const fileMap = async (redis: Redis, key: string) => {
  const raw = (await redis.hgetallBuffer(key)) as Record<string, Buffer>;
  return new Map(Object.entries(raw).map(([k, v]) => [k, new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]));
};

/** Wraps a function that opens onnxruntime sessions so the job's lock outlasts the open (`openLockMs`). */
type HoldLock = <A extends unknown[], R>(open: (...a: A) => Promise<R>) => (...a: A) => Promise<R>;

/** A model opener whose UNet open (in `openModel`) and later component opens (`session`) hold the lock. */
const holdModel =
  (hold: HoldLock, open: (name: string, device: 'cpu' | 'cuda') => Promise<SdModel>) =>
  async (name: string, device: 'cpu' | 'cuda'): Promise<SdModel> => {
    const model = await hold(open)(name, device);
    return { ...model, session: hold(model.session) };
  };

/** The run's frames, built by the same code an in-process server runs, with the worker's local dependencies. */
const source = async (
  o: WorkerOptions,
  job: RunJob,
  log: (m: string) => void,
  owned: () => boolean,
  hold: HoldLock,
): Promise<Observable<Frame>> => {
  const { redis } = o;
  const device = o.device ?? 'cpu';
  const out = join(o.outRoot, job.id);
  const newRunId = () => job.id;
  if (job.kind === 'generate') {
    const request = parseGenerateRequest({ ...job.request, device });
    const open = holdModel(hold, (n: string, d: 'cpu' | 'cuda') => openModel(n, d, log));
    return runGenerate(
      request,
      { openModel: open, withEmbeddings: loadEmbeddingsInto, withLora: loadLoraInto, newRunId },
      job.pipeline ?? {},
    );
  }
  if (job.kind === 'train') {
    const saved = await fileMap(redis, keys.files(job.id));
    const request = parseTrainRequest({ ...job.request, device, out, resume: saved.has(stateFileName) });
    if (request.resume) log(`run ${job.id}: resuming from its checkpoint in Redis`);
    const local = trainDeps(log);
    return runTrain(
      request,
      {
        ...local,
        openModel: holdModel(hold, local.openModel),
        openGraph: hold(local.openGraph),
        newRunId,
        // The images came with the job, through Redis: this worker needs no access to the API's disk.
        async readImages() {
          const files = await fileMap(redis, keys.images(job.id));
          const names = [...files.keys()].filter((n) => !n.endsWith('.txt')).sort();
          return names.map((name) => {
            const caption = files.get(`${name.replace(/\.[^.]+$/, '')}.txt`);
            return {
              name,
              bytes: files.get(name)!,
              ...(caption ? { caption: new TextDecoder().decode(caption).trim() } : {}),
            };
          });
        },
        // Checkpoints go to local disk and to Redis; a worker taking the job over reads them from there.
        async writeFiles(dir, files) {
          const paths = await local.writeFiles(dir, files);
          // A worker that lost the job's lock must not overwrite the checkpoint of the worker that took it over.
          if (!owned()) return paths;
          const entries = Object.entries(files).flatMap(([name, bytes]) => [basename(name), Buffer.from(bytes)]);
          await redis.hset(keys.files(job.id), ...entries);
          await redis.hincrby(keys.run(job.id), 'checkpoints', 1);
          return paths;
        },
        async readFile(path) {
          return (await fileMap(redis, keys.files(job.id))).get(basename(path)) ?? local.readFile(path);
        },
      },
      job.pipeline,
    );
  }
  if (job.kind === 'pipeline') return pipelineSource(o, job, log);
  const request = parsePretrainRequest({ ...job.request, out });
  return pretrainJob(request, { out: join(out, 'model'), work: out }, log, job.id);
};

/**
 * A described stream pipeline over its queued input, with the generate stage's files checked against the folders
 * the API allows (the same policy as in-process: only this process opens them) and no train stage, as on a server.
 */
const pipelineSource = async (o: WorkerOptions, job: RunJob, log: (m: string) => void): Promise<Observable<Frame>> => {
  if (!job.roots) throw new PipelineError('bad_request', 'a pipeline job without the folders it may use');
  const paths = await pathPolicy({
    imageRoots: job.roots.images,
    outRoot: job.roots.out,
    modelRoots: job.roots.models,
    probe: diskProbe,
  });
  const device = o.device ?? 'cpu';
  const open = (n: string, d: 'cpu' | 'cuda') => openModel(n, d, log);
  const deps = guardPipelineDeps(
    { openModel: open, generate: { openModel: open, withEmbeddings: loadEmbeddingsInto } },
    paths,
  );
  const compiled = await compilePipeline(job.pipeline, { registry: stageRegistry() });
  const controller = new AbortController();
  let model: ReturnType<typeof deps.openModel> | undefined;
  const built = await buildPipeline(compiled, {
    runId: job.id,
    modelName: compiled.description.model,
    device,
    signal: controller.signal,
    generate: deps.generate,
    model: () => (model ??= deps.openModel(compiled.description.model, device)),
    progress: () => {},
  });
  const inputs = (await o.redis.lrangeBuffer(keys.inputs(job.id), 0, -1)) as Buffer[];
  async function* frames() {
    for (const b of inputs) yield parseFrame(inputDecoder.decode(b));
  }
  return from(decodeFrames(pipelineFrameStream(built, frames(), { signal: controller.signal }))).pipe(
    finalize(() => controller.abort()),
  );
};

/**
 * Starts a worker; resolves once it is listening. `close()` stops taking jobs and waits for the running ones.
 * @example const w = await startWorker({ url, redis, outRoot: './runs', kinds: ['train'] });
 */
export const startWorker = async (o: WorkerOptions) => {
  const log = o.log ?? (() => {});
  const lockMs = o.lockMs ?? 30_000;
  const kinds = new Set(o.kinds ?? JobKind.options);
  const cancels = new Map<string, Subject<void>>();
  /** Jobs whose lock this worker failed to renew: another worker may hold them now, so this one stops writing. */
  const lost = new Set<string>();
  const sub = o.redis.duplicate();
  sub.on('error', () => {});
  await sub.subscribe(keys.cancel);
  sub.on('message', (_channel, id: string) => cancels.get(id)?.next());

  const process = async (bull: Job, token?: string) => {
    const job = RunJob.parse(bull.data);
    // Not a kind this worker takes: hand the job back (no attempt is spent) for a worker that does. One queue for
    // all kinds keeps the per-kind priorities meaningful for workers that take several kinds.
    if (!kinds.has(job.kind)) {
      await bull.moveToDelayed(Date.now() + handBackMs, token);
      // Stay away while it comes due, so a worker that takes it gets it rather than this one, again and again.
      await new Promise((r) => setTimeout(r, 4 * handBackMs));
      throw new DelayedError();
    }
    const { redis } = o;
    await redis.hset(keys.run(job.id), {
      state: 'running',
      worker: hostname(),
      pid: String(globalThis.process.pid),
      attempts: String(bull.attemptsMade + 1),
      updatedAt: new Date().toISOString(),
    });
    const cancel = new Subject<void>();
    cancels.set(job.id, cancel);
    let stopped: string | undefined; // why the run was stopped, if it was
    cancel.subscribe(() => (stopped ??= 'cancelled'));
    const timer = o.jobTimeoutMs
      ? setTimeout(() => {
          stopped = `stopped after --job-timeout (${o.jobTimeoutMs! / 60_000} min)`;
          cancel.next();
        }, o.jobTimeoutMs)
      : undefined;
    let last: Frame | undefined;
    try {
      // Frames are sent as they come, without waiting for each reply: one connection keeps commands in order, so
      // Redis appends them in order; all of them are confirmed before the run's state is written.
      let written: Promise<unknown> = Promise.resolve();
      // onnxruntime-node opens a session on this thread: while it plans a large graph the event loop, and BullMQ's
      // lock renewal with it, stands still. Unextended, the lock lapses mid-open and another worker takes the job,
      // which then loses it the same way, again and again. The regular renewals shorten the lock again afterwards.
      const hold: HoldLock =
        (open) =>
        async (...a) => {
          if (token && !lost.has(job.id)) await bull.extendLock(token, Math.max(o.openLockMs ?? 15 * 60_000, lockMs));
          return open(...a);
        };
      // The set-up builds and differentiates the step graph on this thread too (seconds for a real model).
      const frames = defer(() => hold(source)(o, job, log, () => !lost.has(job.id), hold)).pipe(
        switchMap((run) => run),
        takeUntil(cancel),
        tap((f) => {
          if (lost.has(job.id)) return;
          const append = appendFrame(redis, job.id, f, job.kind === 'pipeline');
          append.catch(() => {}); // surfaced through `written` below
          written = written.then(() => append);
          last = f;
        }),
      );
      await lastValueFrom(frames, { defaultValue: undefined });
      await written;
      // Not ours any more: leave the run's state and frames to the worker that took it (no end written here).
      if (lost.has(job.id)) throw new Error(`lost the lock of run ${job.id}; another worker continues it`);
      if (stopped) {
        await appendFrame(redis, job.id, { type: 'error', runId: job.id, code: 'cancelled', message: stopped });
        await endRun(redis, job.id, 'cancelled');
        return;
      }
      await endRun(redis, job.id, last?.type === 'error' ? 'failed' : 'done');
    } catch (err) {
      const e = asPipelineError(err);
      // A request's own fault will fail again anywhere: write the error frame and do not retry.
      if (!transientCodes.has(e.code)) {
        await appendFrame(redis, job.id, { type: 'error', runId: job.id, code: e.code, message: e.message });
        await endRun(redis, job.id, 'failed');
        throw new UnrecoverableError(e.message);
      }
      throw e;
    } finally {
      lost.delete(job.id);
      clearTimeout(timer);
      cancels.delete(job.id);
    }
  };

  const worker = new Worker(queueName, process, {
    connection: redisOptions(o.url) as ConnectionOptions, // bullmq names ioredis' options by its own type
    concurrency: o.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
    // A job is taken over after its worker vanished: let that happen a few times before calling it failed.
    maxStalledCount: 5,
  });
  worker.on('error', (e) => log(`worker: ${e.message}`));
  // A lock not renewed in time (a stalled event loop, a Redis hiccup) lets another worker take the job from its
  // last checkpoint: stop this run after its current step, so two workers never write one run.
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) {
      lost.add(id);
      log(`run ${id}: lost its lock; stopping it here, another worker continues it`);
      cancels.get(id)?.next();
    }
  });
  worker.on('failed', async (job, e) => {
    // Out of attempts on a transient error: the run's stream still gets its end.
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1) || e instanceof UnrecoverableError) return;
    const id = RunJob.safeParse(job.data).data?.id;
    if (!id) return;
    await appendFrame(o.redis, id, { type: 'error', runId: id, code: asPipelineError(e).code, message: e.message });
    await endRun(o.redis, id, 'failed');
  });
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      sub.disconnect();
    },
  };
};
