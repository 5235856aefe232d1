/**
 * The run routes: list runs, read one's status, re-attach to its frames (replay, then live), download its latest
 * embedding, cancel it, resume it. Runs started by `POST /v1/train` and `POST /v1/generate` alike; with a stored
 * registry, runs of earlier server processes too.
 */
import type { Hono } from 'hono';
import type { Observable } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { trainPipelineDescription, type TrainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { parseTrainRequest, type TrainRequest } from '../../common/train/train-request.ts';
import { stateFileName } from '../../weights/training/checkpoint-files.ts';
import type { Run, RunRegistry } from '../runs/run-registry.ts';
import type { RunSlots } from '../runs/run-slots.ts';
import { whyNotResumable } from '../runs/resumable.ts';
import type { PathPolicy } from './path-policy.ts';
import { runResponse } from './run-response.ts';
import { parsePipeline } from './split-pipeline.ts';

/** What `POST /v1/runs/:id/resume` needs: the training pipeline and the checks a new training run goes through. */
export interface ResumeDeps {
  train: (req: TrainRequest, pipeline?: TrainPipelineDescription, runId?: string) => Observable<Frame>;
  /** The stored request's paths are checked again: the server may have restarted with other roots. */
  paths: PathPolicy;
  admit?: (req: TrainRequest) => Promise<void>;
  slots?: RunSlots;
}

/** What the run routes need. */
export interface RunRoutesDeps {
  runs: RunRegistry;
  /** Reads a file the server wrote (the embedding); undefined when it is not there. */
  readFile?: (path: string) => Promise<Uint8Array | undefined>;
  /** Without it, resuming is a 404. */
  resume?: ResumeDeps;
  /**
   * A reader attached to a run: returns what to call if it leaves before the run ended (reattach-grace.ts — a
   * generation lives while read), or undefined when leaving changes nothing.
   */
  reader?: (id: string) => (() => void) | undefined;
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
 * The stored request of a resumable run, its paths checked again, resuming from the state in its `out` folder —
 * or from the start when the run died before it wrote one (it was still loading, or waiting for a slot).
 */
const resumeRequest = async (stored: unknown, deps: ResumeDeps, readFile: RunRoutesDeps['readFile']) => {
  const r = parseTrainRequest(stored);
  const out = await deps.paths.out(r.out);
  const request: TrainRequest = {
    ...r,
    model: await deps.paths.model(r.model),
    images: await deps.paths.images(r.images),
    out,
    resume: readFile ? (await readFile(`${out}/${stateFileName}`)) !== undefined : true,
  };
  return request;
};

/**
 * Adds `GET /v1/runs`, `GET /v1/runs/:id`, `GET /v1/runs/:id/frames`, `GET /v1/runs/:id/embedding`,
 * `DELETE /v1/runs/:id` and `POST /v1/runs/:id/resume` to `app`. `/frames?cancelOnDisconnect=1` cancels the run
 * when that client leaves; `/resume` streams like `POST /v1/train` (`?detach=1`: 202 with the status).
 * @example addRunRoutes(app, { runs: createRunRegistry(), readFile });
 */
export const addRunRoutes = (app: Hono, { runs, readFile, resume, reader }: RunRoutesDeps): Hono => {
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
      onLeave: cancel ? () => runs.cancel(run.id, 'the client went away') : reader?.(run.id),
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

  // An interrupted training run, from its last checkpoint, under its id: its frames go on in the same history.
  app.post('/v1/runs/:id/resume', async (c) => {
    if (!resume || !runs.resume) throw new PipelineError('not_found', 'this server does not resume runs');
    const run = runOf(c.req.param('id'));
    const record = runs.record?.(run.id);
    const why = whyNotResumable(run.status(), record);
    if (why) throw new PipelineError('conflict', `run '${run.id}' cannot be resumed: ${why}`, { field: 'id' });
    const request = await resumeRequest(record!.request, resume, readFile);
    const pipeline = parsePipeline(trainPipelineDescription, record!.pipeline ?? undefined);
    await resume.admit?.(request);
    const source = resume.train(request, pipeline, run.id);
    const resumed = runs.resume(run.id, resume.slots ? resume.slots.admit(source) : source);
    const url = new URL(c.req.url);
    if (queryFlag(url, 'detach'))
      return c.json(resumed.status(), 202, { 'x-run-id': run.id, location: `/v1/runs/${run.id}` });
    return runResponse(resumed, {
      signal: c.req.raw.signal,
      onLeave: queryFlag(url, 'cancelOnDisconnect') ? () => runs.cancel(run.id, 'the client went away') : undefined,
    });
  });

  return app;
};
