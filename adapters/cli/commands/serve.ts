import { join } from 'node:path';
import { createApp } from '../../../pipeline/http/app.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { createRunRegistry } from '../../../pipeline/runs/run-registry.ts';
import { runTrain } from '../../../pipeline/train/run-train.ts';
import { serve } from '../../serve.ts';
import { staticAssets } from '../../static-assets.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { openModel } from '../../open-model.ts';
import { trainDeps } from '../../train-deps.ts';
import { pretrainJob } from '../../pretrain-job.ts';
import { uploadStore } from '../../upload-store.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';
import { pathPolicy } from '../../../pipeline/http/path-policy.ts';
import { limits } from '../../../common/limits.ts';
import { realPath } from '../../fs.ts';

export const spec: CommandSpec = {
  name: 'serve',
  summary:
    'Serve the HTTP API: POST /v1/generate, /v1/train and /v1/pretrain stream msgpack frames; /v1/runs lists, re-attaches, cancels.',
  usage: 'serve [--host 127.0.0.1] [--port 8787] [--images-root <dir>]… [--out-root ./runs] [--max-upload-mb 50]',
  options: {
    host: { type: 'string', default: '127.0.0.1', arg: 'addr', help: 'address to bind (loopback by default)' },
    port: { type: 'string', default: '8787', arg: 'n', help: 'port' },
    'images-root': {
      type: 'string',
      multiple: true,
      arg: 'dir',
      help: 'folder a train request may read images from (repeatable; default: the current folder)',
    },
    'out-root': {
      type: 'string',
      default: './runs',
      arg: 'dir',
      help: 'folder training runs write into (<out-root>/<run id> unless a request names one inside it)',
    },
    'max-upload-mb': {
      type: 'string',
      default: String(limits.uploadBytes / 2 ** 20),
      arg: 'n',
      help: 'largest multipart image upload, in MiB',
    },
    'model-root': {
      type: 'string',
      multiple: true,
      arg: 'dir',
      help: "folder a request may name as its model (repeatable; default: the current folder; 'tiny' always works)",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const train = trainDeps(log);
  const imageRoots = ((v['images-root'] as string[] | undefined) ?? ['.']).map(realPath);
  const outRoot = realPath(v['out-root']);
  const modelRoots = ((v['model-root'] as string[] | undefined) ?? ['.']).map(realPath);
  const paths = pathPolicy({ imageRoots, outRoot, modelRoots, realPath });
  const checkModel = paths.model;
  const maxUploadMb = num(v['max-upload-mb'], 'max-upload-mb', { min: 0 }) ?? limits.uploadBytes / 2 ** 20;
  const app = createApp({
    generate: (req, _signal, pipeline, runId) => {
      checkModel(req.model);
      req.embeddings.forEach((e, i) => paths.embedding(`embeddings[${i}]`, e));
      return runGenerate(
        req,
        {
          openModel: (n, d) => openModel(n, d, log),
          withEmbeddings: loadEmbeddingsInto,
          newRunId: () => runId ?? crypto.randomUUID(),
        },
        pipeline,
      );
    },
    train: (req, pipeline, runId) => (
      checkModel(req.model), runTrain(req, { ...train, newRunId: () => runId ?? crypto.randomUUID() }, pipeline)
    ),
    // The run folder keeps checkpoints, loss.jsonl and samples; the trained model goes to its 'model' folder.
    pretrain: (req, runId) => pretrainJob(req, { out: join(req.out!, 'model'), work: req.out! }, log, runId),
    runs: createRunRegistry(),
    uploads: uploadStore(),
    imageRoots,
    outRoot,
    maxUploadBytes: Math.floor(maxUploadMb * 2 ** 20),
    readFile: train.readFile,
    realPath,
    assets: staticAssets(),
    pipelines: {
      openModel: (n, d) => (checkModel(n), openModel(n, d, log)),
      generate: { openModel: (n, d) => (checkModel(n), openModel(n, d, log)), withEmbeddings: loadEmbeddingsInto },
    },
  });
  const server = await serve(app, { host: v.host, port: num(v.port, 'port', { int: true, min: 0 }) });
  process.stdout.write(`pseudoword listening on ${server.url}\n`);
  process.stdout.write(
    `  images from: ${imageRoots.join(', ')}\n  models from: tiny, ${modelRoots.join(', ')}\n  runs into:   ${outRoot}\n`,
  );
  await new Promise(() => {}); // until killed
};
