/**
 * The server as `pseudoword serve` runs it, put together from its options: the one path policy over the canonical
 * roots, the request guard (hosts, origins, token), run slots, size admission, uploads outside every root, and
 * every file a request names read asynchronously through `safe-files.ts`.
 */
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { PipelineError } from '../common/errors.ts';
import { createApp } from '../pipeline/http/app.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { isInside, pathPolicy, type PathPolicy } from '../pipeline/http/path-policy.ts';
import { loopbackNames } from '../pipeline/http/request-guard.ts';
import { createRunRegistry } from '../pipeline/runs/run-registry.ts';
import { runSlots } from '../pipeline/runs/run-slots.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import type { GenerateRequest } from '../common/requests.ts';
import { admitSize, generationBytes, trainingBytes } from '../weights/memory-estimate.ts';
import type { SdModel } from '../weights/model-folder.ts';
import type { ModelInfo } from '../weights/model-info.ts';
import { loadEmbeddingsInto } from './load-embeddings.ts';
import { loadLoraInto } from './load-lora.ts';
import { openModel } from './open-model.ts';
import { pretrainJob } from './pretrain-job.ts';
import { diskProbe, readRegularFile } from './safe-files.ts';
import { limits } from '../common/limits.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { staticAssets } from './static-assets.ts';
import { readImageFolder, trainDeps } from './train-deps.ts';
import { diskRunStore, runStoreFolder } from './run-store.ts';
import { connectRedis } from './queue/connection.ts';
import { queueRuns } from './queue/queue-runs.ts';
import { defer, switchMap } from 'rxjs';
import type { TrainRequest } from '../common/train/train-request.ts';
import type { PretrainRequest } from '../pipeline/pretrain/pretrain-request.ts';
import { defaultUploadRoot, sweepStaleUploads, uploadStore } from './upload-store.ts';

export interface ServerOptions {
  host: string;
  imageRoots: string[];
  outRoot: string;
  modelRoots: string[];
  maxUploadBytes: number;
  /** Names besides the bound address and the loopback names that the server answers to. */
  allowedHosts?: string[];
  allowOrigins?: string[];
  /** Bearer token; required when `host` is not a loopback address. */
  token?: string;
  maxRuns?: number;
  maxQueued?: number;
  /** Working memory one request may need (default: half the machine's memory). */
  maxRequestBytes?: number;
  uploadRoot?: string;
  /** Redis URL: runs become BullMQ jobs for `pseudoword worker`s, and this process keeps no run to itself. */
  queue?: string;
  log?: (m: string) => void;
}

/** Addresses that only this machine can reach. */
export const isLoopback = (host: string): boolean =>
  loopbackNames.includes(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);

const wildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '';

/** The default working-memory limit per request: half of this machine's memory. */
export const defaultMaxRequestBytes = (): number => Math.floor(totalmem() / 2);

/**
 * Builds the app and what `serve` prints about it.
 * @throws PipelineError 'bad_request' for a non-loopback bind without a token, or an upload folder inside a root.
 */
/** A training folder's images and captions by file name, to travel with a queued run. */
const imagesOf = async (dir: string): Promise<Record<string, Uint8Array>> => {
  const out: Record<string, Uint8Array> = {};
  for (const f of await readImageFolder(dir)) {
    out[f.name] = f.bytes;
    if (f.caption !== undefined) out[`${f.name.replace(/\.[^.]+$/, '')}.txt`] = new TextEncoder().encode(f.caption);
  }
  return out;
};

export const serverApp = async (o: ServerOptions) => {
  const log = o.log ?? (() => {});
  if (!isLoopback(o.host) && !o.token)
    throw new PipelineError(
      'bad_request',
      `--host ${o.host} lets other machines reach this server: give it a token (--auth-token or PSEUDOWORD_TOKEN)`,
    );
  const paths: PathPolicy = await pathPolicy({ ...o, reservedOut: [runStoreFolder], probe: diskProbe });
  const uploadRoot = await diskProbe.canonical(o.uploadRoot ?? defaultUploadRoot());
  for (const r of [...paths.roots.images, paths.roots.out, ...paths.roots.models])
    if (isInside(r, uploadRoot) || isInside(uploadRoot, r))
      throw new PipelineError(
        'bad_request',
        `the upload folder ${uploadRoot} and the served folder ${r} overlap: uploads must stay outside every root (--upload-dir)`,
      );
  const swept = await sweepStaleUploads(uploadRoot);
  if (swept) log(`removed ${swept} upload folders left by servers that are gone`);
  const maxBytes = o.maxRequestBytes ?? defaultMaxRequestBytes();
  const train = trainDeps(log);
  const open = (name: string, device: 'cpu' | 'cuda') => openModel(name, device, log);
  // The same size check for a generation asked by route or by a stream pipeline's `generate` stage.
  const admitGeneration = (info: ModelInfo, w: number, h: number, req: GenerateRequest) =>
    admitSize(info, w, h, generationBytes(info, w, h, 1, req.guidance !== 1), maxBytes);
  const generateDeps = {
    openModel: open,
    withEmbeddings: loadEmbeddingsInto,
    withLora: loadLoraInto,
    admit: (model: SdModel, w: number, h: number, req: GenerateRequest) => admitGeneration(model.info, w, h, req),
  };
  const redis = o.queue ? await connectRedis(o.queue) : undefined;
  const q = o.queue && redis ? await queueRuns({ url: o.queue, redis, maxQueued: o.maxQueued }) : undefined;
  const store = o.queue ? undefined : diskRunStore(join(paths.roots.out, runStoreFolder));
  const local = {
    slots: runSlots({ maxRuns: o.maxRuns ?? 1, maxQueued: o.maxQueued ?? 16 }),
    generate: (req: GenerateRequest, _signal: AbortSignal, pipeline: unknown, runId?: string) =>
      runGenerate(req, { ...generateDeps, newRunId: () => runId ?? crypto.randomUUID() }, pipeline),
    train: (req: TrainRequest, pipeline: unknown, runId?: string) =>
      runTrain(req, { ...train, newRunId: () => runId ?? crypto.randomUUID() }, pipeline),
    // The run folder keeps checkpoints, loss.jsonl and samples; the trained model goes to its 'model' folder.
    pretrain: (req: PretrainRequest, runId: string) =>
      pretrainJob(req, { out: join(req.out!, 'model'), work: req.out! }, log, runId),
    // Runs outlive the process: records and frames under the out root, read back (interrupted ones resumable).
    runs: createRunRegistry(store ? { store } : {}),
    readFile: train.readFile,
  };
  const remote = q && {
    slots: undefined, // the workers' --concurrency bounds the work; the queue's length bounds the waiting
    generate: (req: GenerateRequest, _signal: AbortSignal, pipeline: unknown, runId?: string) =>
      q.submit('generate', runId!, req, pipeline),
    train: (req: TrainRequest, pipeline: unknown, runId?: string) =>
      defer(async () => q.submit('train', runId!, req, pipeline, await imagesOf(req.images))).pipe(
        switchMap((frames) => frames),
      ),
    pretrain: (req: PretrainRequest, runId: string) => q.submit('pretrain', runId, req, undefined),
    runs: q.registry,
    readFile: q.readFile,
  };
  const runner = remote ?? local;
  const app = createApp({
    paths,
    guard: {
      allowedHosts:
        wildcard(o.host) && !o.allowedHosts?.length ? undefined : [o.host, ...loopbackNames, ...(o.allowedHosts ?? [])],
      allowedOrigins: o.allowOrigins,
      token: o.token,
    },
    slots: runner.slots,
    admit: {
      async generate(req) {
        await q?.admit();
        const { info } = await open(req.model, req.device);
        admitGeneration(info, req.width ?? info.resolution, req.height ?? info.resolution, req);
        // Embedding files are kilobytes: read and check them now, so a broken one is a 400, not a failed stream.
        for (const [i, f] of req.embeddings.entries())
          readEmbedding(await readRegularFile(f, limits.embeddingFileBytes, `embeddings[${i}]`), { fileName: f });
      },
      async train(req) {
        await q?.admit();
        const { info } = await open(req.model, req.device);
        const r = req.resolution ?? info.resolution;
        admitSize(info, r, r, trainingBytes(info, r, req.batch), maxBytes);
      },
    },
    generate: runner.generate,
    train: runner.train,
    pretrain: runner.pretrain,
    runs: runner.runs,
    uploads: uploadStore(uploadRoot),
    maxUploadBytes: o.maxUploadBytes,
    readFile: runner.readFile,
    assets: staticAssets(),
    pipelines: {
      openModel: open,
      generate: generateDeps,
      // With a queue, a pipeline is a job: its worker opens the files, checked against these roots.
      ...(q && {
        submit: (id: string, description: unknown, input: Uint8Array[]) =>
          q.submitPipeline(id, description, input, paths.roots),
      }),
    },
  });
  /** Stops following Redis, or writes the run store's pending frames out. */
  const close = async () => {
    store?.close();
    await q?.close();
    redis?.disconnect();
  };
  return { app, paths, uploadRoot, maxRequestBytes: maxBytes, close };
};
