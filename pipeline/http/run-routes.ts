/**
 * The run routes: list runs, read one's status, re-attach to its frames (replay, then live), download its latest
 * embedding, cancel it. Runs started by `POST /v1/train` and `POST /v1/generate` alike.
 */
import type { Hono } from 'hono';
import { PipelineError } from '../../common/errors.ts';
import type { Run, RunRegistry } from '../runs/run-registry.ts';
import { runResponse } from './run-response.ts';

/** What the run routes need. */
export interface RunRoutesDeps {
  runs: RunRegistry;
  /** Reads a file the server wrote (the embedding); undefined when it is not there. */
  readFile?: (path: string) => Promise<Uint8Array | undefined>;
}

/**
 * True for `?name=1`, `?name=true`, `?name=yes` and a bare `?name`.
 * @example queryFlag(new URL('http://x/?detach=1'), 'detach') // true
 */
export const queryFlag = (url: URL, name: string): boolean => {
  const v = url.searchParams.get(name);
  return v !== null && /^(|1|true|yes)$/i.test(v);
};

const baseName = (p: string) => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

/**
 * Adds `GET /v1/runs`, `GET /v1/runs/:id`, `GET /v1/runs/:id/frames`, `GET /v1/runs/:id/embedding` and
 * `DELETE /v1/runs/:id` to `app`. `/frames?cancelOnDisconnect=1` cancels the run when that client leaves.
 * @example addRunRoutes(app, { runs: createRunRegistry(), readFile });
 */
export const addRunRoutes = (app: Hono, { runs, readFile }: RunRoutesDeps): Hono => {
  const runOf = (id: string): Run => {
    const run = runs.get(id);
    if (!run) throw new PipelineError('not_found', `no run '${id}'`, { field: 'id' });
    return run;
  };

  app.get('/v1/runs', (c) => c.json(runs.list().map((r) => r.status())));

  app.get('/v1/runs/:id', (c) => c.json(runOf(c.req.param('id')).status()));

  app.get('/v1/runs/:id/frames', (c) => {
    const run = runOf(c.req.param('id'));
    const cancel = queryFlag(new URL(c.req.url), 'cancelOnDisconnect');
    return runResponse(run, {
      signal: c.req.raw.signal,
      onLeave: cancel ? () => runs.cancel(run.id, 'the client went away') : undefined,
    });
  });

  app.get('/v1/runs/:id/embedding', async (c) => {
    const run = runOf(c.req.param('id'));
    const path = run.status().embedding;
    const bytes = path && readFile ? await readFile(path) : undefined;
    if (!path || !bytes) throw new PipelineError('not_found', `run '${run.id}' has saved no embedding yet`);
    // A file read from disk sits on a plain ArrayBuffer; the DOM typings only want to hear that said.
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${baseName(path).replace(/["\\]/g, '_')}"`,
        'cache-control': 'no-store',
        'x-run-id': run.id,
      },
    });
  });

  app.delete('/v1/runs/:id', (c) => c.json(runOf(c.req.param('id')).cancel()));

  return app;
};
