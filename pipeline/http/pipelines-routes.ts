/**
 * Described pipelines over HTTP. `POST /v1/pipelines/run` takes a description and a stream of input frames in
 * one body — msgpack, the description first, then image or latent frames — and streams result frames back as
 * each is ready, so a client can feed images one by one and read latents one by one. (A source pipeline such as
 * `generate` may send the description alone as JSON.) The body is read only as fast as the pipeline runs, and a
 * client that stops reading cancels the run. Stages from module paths are refused here: a client must not make
 * the server import files.
 */
import { errorResponse } from './error-response.ts';
import type { Hono } from 'hono';
import type { Observable } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import type { GenerateDeps } from '../generate.ts';
import { buildPipeline } from '../stream-pipelines/build-pipeline.ts';
import { stageRegistry, type StageRegistry } from '../stream-pipelines/built-in-stages.ts';
import { compilePipeline } from '../stream-pipelines/compile-pipeline.ts';
import { pipelineFrameStream, readPipelineBody } from '../stream-pipelines/frame-stream.ts';
import { pipelineJsonSchema, stageInfos } from '../stream-pipelines/json-schema.ts';
import type { StageContext } from '../stream-pipelines/stage-definition.ts';
import type { TrainDeps } from '../train/run-train.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { frameMediaType, frameResponse } from './frame-response.ts';
import { readInputWhole } from './read-pipeline-input.ts';
import { jsonBody } from './read-body.ts';
import { limits } from '../../common/limits.ts';
import type { RunSlots } from '../runs/run-slots.ts';

/** What the pipeline routes need from the server. */
export interface PipelinesRoutesDeps {
  /** Opens a model by name ('tiny') or folder; the caller caches. */
  openModel(name: string, device: 'cpu' | 'cuda'): Promise<SdModel>;
  /** Lets descriptions use the `generate` stage. */
  generate?: GenerateDeps;
  /** Lets descriptions use the `train` stage (it writes files: give it only with path checks in place). */
  train?: TrainDeps;
  /** Defaults to the built-in stages; a host may add its own. */
  registry?: StageRegistry;
  newRunId?(): string;
  /** Limits how many pipelines run at once, sharing the server's run slots (run-slots.ts); default none. */
  slots?: RunSlots;
  /** Flow control (see runPipeline): values inside the pipeline, results waiting for the client. */
  window?: number;
  highWater?: number;
  /**
   * Runs a checked description elsewhere instead of here (`serve --queue`: a job for a worker), given its input
   * read whole — a queued pipeline's input must be finite — as msgpack-encoded frames. Unsubscribing cancels it.
   */
  submit?(runId: string, description: unknown, input: Uint8Array[]): Observable<Frame>;
}

const isJson = (req: Request) => /^application\/json\b/i.test(req.headers.get('content-type') ?? '');

/**
 * Adds `POST /v1/pipelines/run`, `GET /v1/pipelines/stages` (the stages a description may use, with their
 * kinds and settings schemas) and `GET /v1/pipelines/schema` (the description's JSON Schema) to `app`.
 * @example pipelinesRoutes(app, { openModel, generate: { openModel } });
 */
export const pipelinesRoutes = (app: Hono, deps: PipelinesRoutesDeps): Hono => {
  const registry = deps.registry ?? stageRegistry();

  app.get('/v1/pipelines/stages', (c) => c.json(stageInfos(registry)));
  app.get('/v1/pipelines/schema', (c) => c.json(pipelineJsonSchema()));

  app.post('/v1/pipelines/run', async (c) => {
    try {
      const req = c.req.raw;
      const body = isJson(req)
        ? { description: await jsonBody(req, limits.jsonBodyBytes), frames: undefined }
        : req.body
          ? await readPipelineBody(req.body)
          : undefined;
      if (!body)
        throw new PipelineError('bad_request', 'body is empty; send a pipeline description', { field: 'pipeline' });
      const compiled = await compilePipeline(body.description, { registry });
      const { model: modelName, device } = compiled.description;
      let model: Promise<SdModel> | undefined;
      const runId = deps.newRunId?.() ?? crypto.randomUUID();
      const { submit } = deps;
      if (submit) {
        const input = body.frames ? await readInputWhole(body.frames, limits.queuedPipelineInputBytes) : [];
        // Every result frame, as in-process: a pipeline's latents are its results, never replaced by newer ones.
        const res = frameResponse(req.signal, () => submit(runId, body.description, input), { keepAll: true });
        res.headers.set('x-run-id', runId);
        return res;
      }
      const ctx: StageContext = {
        runId,
        modelName,
        device,
        signal: req.signal,
        generate: deps.generate,
        train: deps.train,
        model: () => (model ??= deps.openModel(modelName, device)),
        progress: () => {},
      };
      // A slot is taken before the model opens and given back when the byte stream ends or its reader leaves.
      const release = (await deps.slots?.acquire()) ?? (() => {});
      let stream: ReadableStream<Uint8Array>;
      try {
        const built = await buildPipeline(compiled, ctx);
        stream = pipelineFrameStream(built, body.frames, {
          signal: req.signal,
          window: deps.window,
          highWater: deps.highWater,
        }).pipeThrough(new TransformStream({ flush: release }));
      } catch (e) {
        release();
        throw e;
      }
      req.signal.addEventListener('abort', release, { once: true });
      return new Response(stream, {
        // x-accel-buffering: proxies such as nginx would otherwise hold frames back to fill their buffers.
        headers: {
          'content-type': frameMediaType,
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
          'x-run-id': runId,
        },
      });
    } catch (e) {
      return errorResponse(c, e);
    }
  });

  return app;
};
