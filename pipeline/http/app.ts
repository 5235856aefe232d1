/**
 * The HTTP face of pseudoword: a Hono app, so any runtime with `fetch(Request) → Response` serves it (see
 * `adapters/serve.ts`). Runs stream back as msgpack frames; everything else is JSON. Failures are PipelineErrors
 * turned into `{ error: { code, message, field? } }` with the status `httpStatusOf` gives.
 */
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Observable } from 'rxjs';
import { PipelineError, asPipelineError, httpStatusOf } from '../errors.ts';
import type { Frame } from '../frames.ts';
import { parseGenerateRequest, type GenerateRequest } from '../requests.ts';
import { frameResponse } from './frame-response.ts';

/** What the app needs from the rest of the program; tests pass doubles. */
export interface AppDeps {
  /** Starts a generation run. Aborting `signal` (or unsubscribing) must stop it after the current step. */
  generate: (req: GenerateRequest, signal: AbortSignal) => Observable<Frame>;
  /** Reported by GET /health. */
  version?: string;
}

/** The JSON body of every non-streaming failure. */
export const errorBodyOf = (e: PipelineError) => {
  const { field, ...details } = e.details ?? {};
  return {
    error: {
      code: e.code,
      message: e.message,
      ...(typeof field === 'string' && field ? { field } : {}),
      ...(Object.keys(details).length ? { details } : {}),
    },
  };
};

const errorResponse = (c: Context, e: PipelineError) =>
  // Hono's json() types the status as a known code; httpStatusOf only ever returns real ones.
  c.json(errorBodyOf(e), httpStatusOf(e.code) as 400);

// Bodies are parsed by hand so that broken JSON is a bad_request naming the problem, not a generic 500.
const jsonBody = async (req: Request): Promise<unknown> => {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PipelineError('bad_request', `body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
};

/**
 * Builds the app. Routes: `GET /health`, `POST /v1/generate` (JSON GenerateRequest in, msgpack frames out).
 * @example
 * const app = createApp({ generate: (req, signal) => generatePipeline(req, signal), version: '0.1.0' });
 * const res = await app.request('/health'); // { ok: true, version: '0.1.0' }
 */
export const createApp = (deps: AppDeps): Hono => {
  const app = new Hono();

  app.get('/health', (c) => c.json({ ok: true, version: deps.version ?? 'dev' }));

  app.post('/v1/generate', async (c) => {
    const req = parseGenerateRequest(await jsonBody(c.req.raw));
    return frameResponse(c.req.raw.signal, (signal) => deps.generate(req, signal));
  });

  // Next to come, same shape as /v1/generate:
  //   app.post('/v1/train', …)     TrainRequest in, loss/validation/checkpoint frames out
  //   app.get('/v1/runs/:id', …)   re-attach to a run that is still going (needs a run registry in deps)

  app.notFound((c) => errorResponse(c, new PipelineError('not_found', `no route ${c.req.method} ${c.req.path}`)));

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    const e = asPipelineError(err);
    if (e.code === 'internal') console.error(err); // a bug, not a bad request: keep the stack somewhere
    return errorResponse(c, e);
  });

  return app;
};
