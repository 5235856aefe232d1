/**
 * One conformance suite for every serve adapter (like Hono's runtime tests): each adapter's test file calls
 * `serveSuite(name, serveFn)`. It opens real sockets on 127.0.0.1 only.
 */
import { afterEach, describe, expect, it } from 'bun:test';
import { Observable, Subject } from 'rxjs';
import { createApp } from '../pipeline/http/app.ts';
import type { Frame } from '../common/frames.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import type { FetchApp, ServeHandle, ServeOptions } from './serve-options.ts';

const progress = (step: number): Frame => ({
  type: 'progress',
  runId: 's1',
  step,
  of: 9,
  phase: 'denoise',
  elapsedMs: step,
});
const loss = (step: number): Frame => ({
  type: 'loss',
  runId: 's1',
  step,
  loss: 0.5,
  lr: 1e-3,
  gradNorm: 1,
  embeddingNorm: 1,
});
const done: Frame = { type: 'done', runId: 's1', summary: {} };

// Waits for something another task does (a socket closing on the far side); not a timing assertion.
const eventually = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  return check();
};

/** A run driven by hand, counting how often it was started and stopped. */
const handRun = () => {
  const subject = new Subject<Frame>();
  const counts = { started: 0, stopped: 0 };
  const app = createApp({
    version: 'suite',
    reattachGraceMs: 0, // a client that leaves stops its run at once: this suite checks the adapter sees it leave
    generate: () =>
      new Observable<Frame>((sub) => {
        counts.started++;
        const s = subject.subscribe(sub);
        return () => {
          counts.stopped++;
          s.unsubscribe();
        };
      }),
  });
  return { subject, counts, app };
};

/**
 * Posts a generate request and returns the response once the run has started and sent `first`. The first frame
 * goes out before the response is awaited because Bun (1.4) holds the status line back until the body's first
 * chunk (oven-sh/bun PR #33660), so awaiting headers before any frame exists would wait forever there.
 */
const generate = async (server: ServeHandle, run: ReturnType<typeof handRun>, first: Frame, init: RequestInit = {}) => {
  const response = fetch(`${server.url}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"prompt":"x"}',
    ...init,
  });
  expect(await eventually(() => run.counts.started === 1)).toBe(true);
  run.subject.next(first);
  return response;
};

/** Registers the conformance tests for one adapter. */
export const serveSuite = (name: string, serveFn: (app: FetchApp, options?: ServeOptions) => Promise<ServeHandle>) =>
  describe(`${name} serve adapter`, () => {
    let server: ServeHandle | undefined;
    const start = async (app: FetchApp) => (server = await serveFn(app, { host: '127.0.0.1', port: 0 }));
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    it('listens on a free port of 127.0.0.1 and answers /health', async () => {
      const s = await start(handRun().app);
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${s.url}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, version: 'suite' });
    });

    it('passes the request body through and answers a bad one with 400 JSON', async () => {
      const s = await start(handRun().app);
      const res = await fetch(`${s.url}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"prompt":"x","steps":0}',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request', field: 'steps' } });
    });

    it('streams each frame as it happens', async () => {
      const run = handRun();
      const { subject, counts } = run;
      const s = await start(run.app);
      const res = await generate(s, run, loss(1));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.msgpack');
      const frames = decodeFrames(res.body!);
      expect((await frames.next()).value).toEqual(loss(1));
      subject.next(progress(2));
      expect((await frames.next()).value).toEqual(progress(2));
      subject.next(done);
      subject.complete();
      expect((await frames.next()).value).toEqual(done);
      expect((await frames.next()).done).toBe(true);
      expect(counts).toEqual({ started: 1, stopped: 1 });
    });

    it('stops the run when the client disconnects', async () => {
      const run = handRun();
      const { subject, counts } = run;
      const s = await start(run.app);
      const client = new AbortController();
      const res = await generate(s, run, loss(1), { signal: client.signal });
      const frames = decodeFrames(res.body!);
      await frames.next();
      client.abort();
      await frames.next().catch(() => undefined);
      expect(await eventually(() => counts.stopped === 1)).toBe(true);
      expect(subject.observed).toBe(false);
    });

    it('ends open streams and stops their runs on close', async () => {
      const run = handRun();
      const { counts } = run;
      const s = await start(run.app);
      const res = await generate(s, run, loss(1));
      const frames = decodeFrames(res.body!);
      await frames.next();
      await s.close();
      server = undefined;
      expect(await eventually(() => counts.stopped === 1)).toBe(true);
      await frames.next().catch(() => undefined); // the stream ends (or errors, by runtime) rather than hanging
    });
  });
