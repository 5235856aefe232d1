/**
 * The HTTP face of pseudoword: a Hono app, so any runtime with `fetch(Request) → Response` serves it (see
 * `adapters/serve.ts`). Runs stream back as msgpack frames; everything else is JSON. Failures are PipelineErrors
 * turned into `{ error: { code, message, field? } }` with the status `httpStatusOf` gives.
 *
 * Every run — generate or train — lives in a run registry, so clients can list runs, watch several side by
 * side, and re-attach to one that is still going. A generation stops when nobody has read it for
 * `limits.reattachGraceMs` (reattach-grace.ts), so a reloaded page picks it up again; a training run keeps going
 * unless its client asked `?cancelOnDisconnect=1`.
 */
import { errorResponse } from './error-response.ts';
import { requestGuard, type RequestGuardOptions } from './request-guard.ts';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { finalize, startWith, type Observable } from 'rxjs';
import { PipelineError, asPipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { generatePipelineDescription, type GeneratePipelineDescription } from '../../common/generate-pipeline.ts';
import { parseGenerateRequest, type GenerateRequest } from '../../common/requests.ts';
import { createRunRegistry, type RunRegistry } from '../runs/run-registry.ts';
import type { RunSlots } from '../runs/run-slots.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import type { TrainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { abortOnUnsubscribe } from './abort-on-unsubscribe.ts';
import { jsonBody } from './read-body.ts';
import { addRunRoutes, queryFlag } from './run-routes.ts';
import { checkGeneratePaths, guardPipelineDeps, noPaths, type PathPolicy } from './path-policy.ts';
import { parsePretrainRequest, type PretrainRequest } from '../pretrain/pretrain-request.ts';
import { runResponse } from './run-response.ts';
import { parsePipeline, splitPipeline } from './split-pipeline.ts';
import { acceptCatalogUse, stageCatalog } from './stage-catalog.ts';
import { readTrainBody, type UploadStore } from './train-body.ts';
import { pipelinesRoutes, type PipelinesRoutesDeps } from './pipelines-routes.ts';
import { limits } from '../../common/limits.ts';
import { reattachGrace, type Schedule } from './reattach-grace.ts';
import { settingsRoute } from './settings-route.ts';
import { microConditioningFields } from '../../common/micro-conditioning.ts';

/** What the app needs from the rest of the program; tests pass doubles. Only `generate` is required. */
export interface AppDeps {
  /**
   * Starts a generation run. Aborting `signal` (or unsubscribing) must stop it after the current step. Frames
   * should carry `runId`, the id the server registered the run under.
   */
  generate: (
    req: GenerateRequest,
    signal: AbortSignal,
    pipeline?: GeneratePipelineDescription,
    runId?: string,
  ) => Observable<Frame>;
  /** Starts a training run (unsubscribing stops it between steps); without it POST /v1/train is a 404. */
  train?: (req: TrainRequest, pipeline?: TrainPipelineDescription, runId?: string) => Observable<Frame>;
  /**
   * Starts pretraining the embedded model (`out` already resolved inside the output root); unsubscribing stops it
   * between steps. Without it POST /v1/pretrain is a 404.
   */
  pretrain?: (req: PretrainRequest, runId: string) => Observable<Frame>;
  /** The runs of this server (default: a fresh registry). */
  runs?: RunRegistry;
  /** Saves multipart uploads; without it uploads are refused (403). */
  uploads?: UploadStore;
  /**
   * The one path policy (path-policy.ts) every route applies to the files a request names: models, embeddings,
   * training images, `out`. Without it, any request that names a file is refused (`forbidden`); 'tiny' still works.
   */
  paths?: PathPolicy;
  /** Largest multipart upload in bytes (default 50 MiB). */
  maxUploadBytes?: number;
  /** Reads a file the server wrote, for GET /v1/runs/:id/embedding. */
  readFile?: (path: string) => Promise<Uint8Array | undefined>;
  newRunId?: () => string;
  /** Reported by GET /health. */
  version?: string;
  /** The web viewer's files for `GET /` and `GET /viewer/*` (see adapters/static-assets.ts); undefined = 404. */
  assets?: (path: string) => Promise<Response | undefined>;
  /** Open stream pipelines: POST /v1/pipelines/run and friends (see pipelines-routes.ts); absent = 404. */
  pipelines?: PipelinesRoutesDeps;
  /**
   * Host allow-list, trusted origins and bearer token (request-guard.ts). Foreign origins and loose content types
   * are refused even without it; hosts and tokens are checked only when given.
   */
  guard?: RequestGuardOptions;
  /**
   * How long a generation whose readers all left waits for one to re-attach before it is cancelled (default
   * `limits.reattachGraceMs`; 0 cancels at once), and the timer that waits (tests drive it by hand).
   */
  reattachGraceMs?: number;
  schedule?: Schedule;
  /** How many runs execute at once, and how many may wait (run-slots.ts); default: no limit. */
  slots?: RunSlots;
  /**
   * Size checks before a run starts — the model's maximum side and the working-memory estimate
   * (weights/memory-estimate.ts) — so an oversized request is a 4xx answer, not a server that runs out of memory.
   */
  admit?: {
    generate?(req: GenerateRequest): Promise<void>;
    train?(req: TrainRequest): Promise<void>;
  };
}

/**
 * Builds the app. Routes: `GET /health`, `GET /v1/stages`, `POST /v1/generate`, `POST /v1/train`, `POST /v1/pretrain`,
 * and the run
 * routes (`GET /v1/runs`, `GET|DELETE /v1/runs/:id`, `GET /v1/runs/:id/frames`, `GET /v1/runs/:id/embedding`).
 * `POST /v1/train?detach=1` (and /v1/pretrain) answers 202 with the run's status instead of streaming;
 * `?cancelOnDisconnect=1`
 * stops the run when the streaming client leaves. Both POSTs name the run in `x-run-id`.
 * @example
 * const app = createApp({ generate: (req, signal) => generatePipeline(req, signal), version: '0.1.0' });
 * const res = await app.request('/health'); // { ok: true, version: '0.1.0' }
 */
export const createApp = (deps: AppDeps): Hono => {
  const app = new Hono();
  const runs = deps.runs ?? createRunRegistry();
  const newRunId = deps.newRunId ?? (() => crypto.randomUUID());
  const paths = deps.paths ?? noPaths;
  const admit = <T>(source: Observable<T>): Observable<T> => (deps.slots ? deps.slots.admit(source) : source);
  const grace = reattachGrace({
    graceMs: deps.reattachGraceMs ?? limits.reattachGraceMs,
    cancel: (id) => runs.cancel(id, 'the client went away'),
    schedule: deps.schedule,
  });
  // The run's first frame at once, before the model loads: Bun sends the status line (and `x-run-id`) only with
  // the body's first chunk, and a page needs the id to cancel or re-attach while the run is still starting.
  const loading = (runId: string, of: number): Frame => ({
    type: 'progress',
    runId,
    step: 0,
    of,
    phase: 'load',
    elapsedMs: 0,
  });

  app.use('*', requestGuard(deps.guard ?? {}));

  app.get('/health', (c) => c.json({ ok: true, version: deps.version ?? 'dev' }));

  app.get('/v1/stages', (c) => c.json(stageCatalog()));

  settingsRoute(app, paths);

  app.post('/v1/generate', async (c) => {
    const { body, pipeline } = splitPipeline(await jsonBody(c.req.raw, limits.jsonBodyBytes));
    const req = await checkGeneratePaths(parseGenerateRequest(body), paths);
    await deps.admit?.generate?.(req);
    const description = parsePipeline(generatePipelineDescription, acceptCatalogUse('generate', pipeline));
    const id = newRunId();
    const controller = new AbortController();
    // Called here, not inside the registry, so a run that throws before its first frame is a 4xx/5xx JSON answer.
    const source = admit(deps.generate(req, controller.signal, description, id).pipe(abortOnUnsubscribe(controller)));
    // Everything that decides the picture, so a listed result can be shown, reproduced and reused.
    const { prompt, negativePrompt, model, steps, seed, guidance, width, height, eta, embeddings } = req;
    const meta = {
      ...{ prompt, negativePrompt, model, steps, seed, guidance, width, height, eta, embeddings },
      // SDXL's micro-conditioning decides the picture too, when the request sets it.
      ...Object.fromEntries(microConditioningFields(req).map((k) => [k, req[k]])),
      // A sampler named in the request wins over the pipeline's; absent when both left it to the model folder.
      sampler:
        (req as { sampler?: string | null }).sampler ??
        (description ?? generatePipelineDescription.parse({})).sampler?.use,
    };
    grace.track(id);
    const run = runs.start('generate', id, source, meta, { request: req, pipeline: description });
    const forget = () => {
      if (!run.ended) return;
      off();
      grace.ended(id);
    };
    const off = run.onChange(forget);
    forget(); // a source that ended inside start() sends no change
    return runResponse(run, { signal: c.req.raw.signal, onLeave: grace.reader(id) });
  });

  app.post('/v1/train', async (c) => {
    if (!deps.train) throw new PipelineError('not_found', 'this server does not train');
    const id = newRunId();
    const { request, pipeline, uploaded } = await readTrainBody(c.req.raw, id, {
      paths,
      maxUploadBytes: deps.maxUploadBytes ?? limits.uploadBytes,
      uploads: deps.uploads,
    });
    // An upload's folder is the server's business: it is removed when the run ends and never named in answers.
    const removeUpload = () => (uploaded ? deps.uploads?.remove(id).catch(() => {}) : undefined);
    let source: Observable<Frame>;
    try {
      await deps.admit?.train?.(request);
      source = admit(deps.train(request, pipeline, id)).pipe(
        startWith(loading(id, request.steps)),
        finalize(removeUpload),
      );
    } catch (e) {
      await removeUpload();
      throw e;
    }
    const { token, init, model, steps, out, device } = request;
    const images = uploaded ? `${uploaded} uploaded files` : request.images;
    const notResumable = uploaded ? 'its uploaded images are removed when it ends' : undefined;
    const meta = { token, init, model, steps, images, out, device };
    const run = runs.start('train', id, source, meta, { request, pipeline, notResumable });
    const url = new URL(c.req.url);
    if (queryFlag(url, 'detach')) return c.json(run.status(), 202, { 'x-run-id': id, location: `/v1/runs/${id}` });
    const cancel = queryFlag(url, 'cancelOnDisconnect');
    return runResponse(run, {
      signal: c.req.raw.signal,
      onLeave: cancel ? () => runs.cancel(id, 'the client went away') : undefined,
    });
  });

  app.post('/v1/pretrain', async (c) => {
    if (!deps.pretrain) throw new PipelineError('not_found', 'this server does not pretrain');
    const id = newRunId();
    const request = parsePretrainRequest(await jsonBody(c.req.raw, limits.jsonBodyBytes));
    const out = await paths.out(request.out ?? id);
    const meta = { seed: request.seed, scale: request.scale, out };
    const run = runs.start('pretrain', id, admit(deps.pretrain({ ...request, out }, id)), meta, {
      request: { ...request, out },
    });
    const url = new URL(c.req.url);
    if (queryFlag(url, 'detach')) return c.json(run.status(), 202, { 'x-run-id': id, location: `/v1/runs/${id}` });
    const cancel = queryFlag(url, 'cancelOnDisconnect');
    return runResponse(run, {
      signal: c.req.raw.signal,
      onLeave: cancel ? () => runs.cancel(id, 'the client went away') : undefined,
    });
  });

  const { train } = deps;
  const resume = train && { train, paths, admit: deps.admit?.train, slots: deps.slots };
  addRunRoutes(app, { runs, readFile: deps.readFile, resume, reader: grace.reader });

  // The raw path: the assets hook does its own decoding and checking, once.
  if (deps.pipelines) pipelinesRoutes(app, { ...guardPipelineDeps(deps.pipelines, paths), slots: deps.slots });
  const { assets } = deps;
  if (assets)
    for (const route of ['/', '/viewer/*'])
      app.get(route, async (c) => (await assets(new URL(c.req.url).pathname)) ?? c.notFound());

  app.notFound((c) => errorResponse(c, new PipelineError('not_found', `no route ${c.req.method} ${c.req.path}`)));

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    const e = asPipelineError(err);
    if (e.code === 'internal') console.error(err); // a bug, not a bad request: keep the stack somewhere
    return errorResponse(c, e);
  });

  return app;
};
