/**
 * The real server for the viewer's tests, wired as `pseudoword serve` wires it — generation and training on this
 * machine, a run registry, uploads, the viewer's files — listening on 127.0.0.1 on a free port, in this process.
 * Training reads images from `imagesRoot` and writes every run into a temp folder removed on close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../pipeline/http/app.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import { createRunRegistry } from '../../pipeline/runs/run-registry.ts';
import { runTrain } from '../../pipeline/train/run-train.ts';
import { loadEmbeddingsInto } from '../../adapters/load-embeddings.ts';
import { openModel } from '../../adapters/open-model.ts';
import { serve, type ServeHandle } from '../../adapters/serve.ts';
import { staticAssets } from '../../adapters/static-assets.ts';
import { trainDeps } from '../../adapters/train-deps.ts';
import { uploadStore } from '../../adapters/upload-store.ts';
import { diskProbe } from '../../adapters/safe-files.ts';
import { pathPolicy } from '../../pipeline/http/path-policy.ts';

/** Starts the server; closing it also cancels the runs still streaming and removes what the runs wrote. */
export const startViewerServer = async (imagesRoot: string): Promise<ServeHandle> => {
  const scratch = mkdtempSync(join(tmpdir(), 'pseudoword-viewer-'));
  const train = trainDeps();
  const app = createApp({
    generate: (req, _signal, pipeline, runId) =>
      runGenerate(
        req,
        {
          openModel: (n, d) => openModel(n, d),
          withEmbeddings: loadEmbeddingsInto,
          newRunId: () => runId ?? crypto.randomUUID(),
        },
        pipeline,
      ),
    train: (req, pipeline, runId) =>
      runTrain(req, { ...train, newRunId: () => runId ?? crypto.randomUUID() }, pipeline),
    runs: createRunRegistry(),
    uploads: uploadStore(join(scratch, 'uploads')),
    paths: await pathPolicy({
      imageRoots: [imagesRoot],
      outRoot: join(scratch, 'runs'),
      modelRoots: [],
      probe: diskProbe,
    }),
    readFile: train.readFile,
    assets: staticAssets(),
  });
  const server = await serve(app, { host: '127.0.0.1', port: 0 });
  return {
    url: server.url,
    async close() {
      await server.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
};
