import { describe, expect, it } from 'bun:test';
import { Observable, Subject, concat, from, throwError } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import type { GenerateRequest } from '../../common/requests.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp } from './app.ts';

const progress = (step: number): Frame => ({
  type: 'progress',
  runId: 'g1',
  step,
  of: 3,
  phase: 'denoise',
  elapsedMs: step,
});
const image: Frame = {
  type: 'image',
  runId: 'g1',
  index: 0,
  width: 8,
  height: 8,
  png: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
};
const done: Frame = { type: 'done', runId: 'g1', summary: { seed: 0 } };

const post = (body: unknown, init: RequestInit = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
  ...init,
});
const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};

/** A stand-in for the generation pipeline that records what it was asked and whether it was stopped. */
const fakeGenerate = (frames: () => Observable<Frame>) => {
  const seen = { requests: [] as GenerateRequest[], signals: [] as AbortSignal[], subscribed: 0, tornDown: 0 };
  const generate = (req: GenerateRequest, signal: AbortSignal) => {
    seen.requests.push(req);
    seen.signals.push(signal);
    return new Observable<Frame>((sub) => {
      seen.subscribed++;
      const s = frames().subscribe(sub);
      return () => {
        seen.tornDown++;
        s.unsubscribe();
      };
    });
  };
  return { seen, generate };
};

describe('createApp', () => {
  it('answers /health with ok and the version', async () => {
    const app = createApp({ generate: () => from([]), version: '1.2.3' });
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, version: '1.2.3' });
  });

  it('streams the frames of a run as msgpack, in order, with defaults filled into the request', async () => {
    const { seen, generate } = fakeGenerate(() => from([progress(1), progress(2), image, done]));
    const res = await createApp({ generate }).request(
      '/v1/generate',
      post({ prompt: 'a photo of <cat-toy>', steps: 3 }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.msgpack');
    // progress@1 was replaced by progress@2 before anyone read: the stream starts with the run.
    expect(await framesOf(res)).toEqual([progress(2), image, done]);
    expect(seen.requests[0]).toMatchObject({ prompt: 'a photo of <cat-toy>', steps: 3, guidance: 7.5, model: 'tiny' });
    expect(seen.signals[0].aborted).toBe(false);
  });

  it('answers 400 naming the field for a bad request, without starting a run', async () => {
    const { seen, generate } = fakeGenerate(() => from([done]));
    const res = await createApp({ generate }).request('/v1/generate', post({ prompt: 'x', steps: 5000 }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 'bad_request',
        message: 'steps: must be ≤ 1000',
        field: 'steps',
        details: { issues: [{ field: 'steps', message: 'must be ≤ 1000' }] },
      },
    });
    expect(seen.requests).toEqual([]);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const res = await createApp({ generate: () => from([]) }).request('/v1/generate', post('{"prompt": '));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toStartWith('body is not valid JSON');
  });

  it('stops the run when the request is aborted, at once when the server gives no time to re-attach', async () => {
    const subject = new Subject<Frame>();
    const { seen, generate } = fakeGenerate(() => subject);
    const ac = new AbortController();
    const res = await createApp({ generate, reattachGraceMs: 0 }).request(
      '/v1/generate',
      post({ prompt: 'x' }, { signal: ac.signal }),
    );
    const reader = res.body!.getReader();
    subject.next(progress(1));
    await reader.read();
    expect(seen.tornDown).toBe(0);
    ac.abort();
    expect(seen.tornDown).toBe(1);
    expect(seen.signals[0].aborted).toBe(true);
    expect((await reader.read()).done).toBe(true);
  });

  it('stops the run when the client cancels the response body (no time to re-attach)', async () => {
    const subject = new Subject<Frame>();
    const { seen, generate } = fakeGenerate(() => subject);
    const res = await createApp({ generate, reattachGraceMs: 0 }).request('/v1/generate', post({ prompt: 'x' }));
    subject.next(progress(1));
    for await (const f of decodeFrames(res.body!)) {
      expect(f).toEqual(progress(1));
      break; // leaving the loop cancels the body
    }
    expect(seen).toMatchObject({ subscribed: 1, tornDown: 1 });
    expect(seen.signals[0].aborted).toBe(true);
    expect(subject.observed).toBe(false);
  });

  it('ends the stream with an error frame when the run fails midway', async () => {
    const { seen, generate } = fakeGenerate(() =>
      concat(
        from([progress(1)]),
        throwError(() => new PipelineError('numeric', 'latent became NaN at step 2')),
      ),
    );
    const res = await createApp({ generate }).request('/v1/generate', post({ prompt: 'x' }));
    expect(res.status).toBe(200);
    expect(await framesOf(res)).toEqual([
      progress(1),
      { type: 'error', runId: 'g1', code: 'numeric', message: 'latent became NaN at step 2' },
    ]);
    expect(seen.signals[0].aborted).toBe(false); // the run ended by itself; nothing was cancelled
  });

  it('turns a PipelineError thrown before the run starts into JSON with its HTTP status', async () => {
    const generate = (req: GenerateRequest): Observable<Frame> => {
      throw new PipelineError('not_found', `no weights in model '${req.model}'`, { field: 'model' });
    };
    const res = await createApp({ generate }).request('/v1/generate', post({ prompt: 'x', model: 'tiny' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 'not_found', message: "no weights in model 'tiny'", field: 'model' },
    });
  });

  it('answers unknown routes with a not_found JSON error', async () => {
    const res = await createApp({ generate: () => from([]) }).request('/v1/nothing');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing' } });
  });
});
