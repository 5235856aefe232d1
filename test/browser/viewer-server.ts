/**
 * The real server for the viewer's tests: the app with this machine's generation (and training) dependencies
 * and the viewer's files, listening on 127.0.0.1 on a free port, in this process.
 */
import { createApp } from '../../pipeline/http/app.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import { openModel } from '../../adapters/open-model.ts';
import { loadEmbeddingsInto } from '../../adapters/load-embeddings.ts';
import { serve, type ServeHandle } from '../../adapters/serve.ts';
import { staticAssets } from '../../adapters/static-assets.ts';

/** Starts the server; close it when done (that also cancels the runs still streaming). */
export const startViewerServer = async (): Promise<ServeHandle> => {
  const app = createApp({ generate: (req) => runGenerate(req, { openModel: (n, d) => openModel(n, d), withEmbeddings: loadEmbeddingsInto }) });
  const assets = staticAssets();
  return serve({ fetch: async (r: Request) => (await assets(new URL(r.url).pathname)) ?? app.fetch(r) }, { host: '127.0.0.1', port: 0 });
};
