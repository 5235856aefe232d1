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
import { openModel } from './open-model.ts';
import { pretrainJob } from './pretrain-job.ts';
import { diskProbe, readRegularFile } from './safe-files.ts';
import { limits } from '../common/limits.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { staticAssets } from './static-assets.ts';
import { trainDeps } from './train-deps.ts';
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
export const serverApp = async (o: ServerOptions) => {
  const log = o.log ?? (() => {});
  if (!isLoopback(o.host) && !o.token)
    throw new PipelineError(
      'bad_request',
      `--host ${o.host} lets other machines reach this server: give it a token (--auth-token or PSEUDOWORD_TOKEN)`,
    );
  const paths: PathPolicy = await pathPolicy({ ...o, probe: diskProbe });
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
    admit: (model: SdModel, w: number, h: number, req: GenerateRequest) => admitGeneration(model.info, w, h, req),
  };
  const app = createApp({
    paths,
    guard: {
      allowedHosts:
        wildcard(o.host) && !o.allowedHosts?.length ? undefined : [o.host, ...loopbackNames, ...(o.allowedHosts ?? [])],
      allowedOrigins: o.allowOrigins,
      token: o.token,
    },
    slots: runSlots({ maxRuns: o.maxRuns ?? 1, maxQueued: o.maxQueued ?? 16 }),
    admit: {
      async generate(req) {
        const { info } = await open(req.model, req.device);
        admitGeneration(info, req.width ?? info.resolution, req.height ?? info.resolution, req);
        // Embedding files are kilobytes: read and check them now, so a broken one is a 400, not a failed stream.
        for (const [i, f] of req.embeddings.entries())
          readEmbedding(await readRegularFile(f, limits.embeddingFileBytes, `embeddings[${i}]`), { fileName: f });
      },
      async train(req) {
        const { info } = await open(req.model, req.device);
        const r = req.resolution ?? info.resolution;
        admitSize(info, r, r, trainingBytes(info, r, req.batch), maxBytes);
      },
    },
    generate: (req, _signal, pipeline, runId) =>
      runGenerate(req, { ...generateDeps, newRunId: () => runId ?? crypto.randomUUID() }, pipeline),
    train: (req, pipeline, runId) =>
      runTrain(req, { ...train, newRunId: () => runId ?? crypto.randomUUID() }, pipeline),
    // The run folder keeps checkpoints, loss.jsonl and samples; the trained model goes to its 'model' folder.
    pretrain: (req, runId) => pretrainJob(req, { out: join(req.out!, 'model'), work: req.out! }, log, runId),
    runs: createRunRegistry(),
    uploads: uploadStore(uploadRoot),
    maxUploadBytes: o.maxUploadBytes,
    readFile: train.readFile,
    assets: staticAssets(),
    pipelines: { openModel: open, generate: generateDeps },
  });
  return { app, paths, uploadRoot, maxRequestBytes: maxBytes };
};
