import { describe, expect, it } from 'bun:test';
import { Observable, Subject, from } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { createRunRegistry } from '../runs/run-registry.ts';
import { RunStatus } from '../runs/run-status.ts';
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
const loss = (step: number): Frame => ({
  type: 'loss',
  runId: 't1',
  step,
  loss: 0.5,
  lr: 1e-3,
  gradNorm: 1,
  embeddingNorm: 1,
});
const preview = (step: number): Frame => ({
  type: 'preview',
  runId: 't1',
  step,
  of: 9,
  kind: 'x0',
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array(4),
});
const checkpoint: Frame = {
  type: 'checkpoint',
  runId: 't1',
  step: 2,
  files: ['/runs/t1/learned_embeds.safetensors', '/runs/t1/training-state.json'],
};
const done = (runId: string): Frame => ({ type: 'done', runId, summary: {} });

const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};
const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** An app whose generate runs are driven by hand, with one train run 't1' already registered. */
const setup = (reattachGraceMs?: number) => {
  const runs = createRunRegistry();
  const train = new Subject<Frame>();
  runs.start('train', 't1', train, { token: '<t>' });
  const generate = new Subject<Frame>();
  const stopped = { generate: 0 };
  const files: Record<string, Uint8Array> = {};
  let n = 0;
  const app = createApp({
    runs,
    reattachGraceMs,
    newRunId: () => `g${++n}`,
    readFile: async (p) => files[p],
    generate: () =>
      new Observable<Frame>((sub) => {
        const s = generate.subscribe(sub);
        return () => {
          stopped.generate++;
          s.unsubscribe();
        };
      }),
  });
  return { app, runs, train, generate, stopped, files };
};

describe('the run routes', () => {
  it('list every run and give each one status that a client can validate', async () => {
    const { app, train, generate } = setup();
    const res = await app.request('/v1/generate', json({ prompt: 'a cat' }));
    expect(res.headers.get('x-run-id')).toBe('g1');
    generate.next(progress(2));
    train.next(loss(1));
    const list = (await (await app.request('/v1/runs')).json()) as unknown[];
    expect(list.map((s) => RunStatus.parse(s))).toMatchObject([
      { id: 't1', kind: 'train', status: 'running', step: 1, meta: { token: '<t>' } },
      {
        id: 'g1',
        kind: 'generate',
        status: 'running',
        step: 2,
        of: 3,
        meta: { prompt: 'a cat', model: 'tiny', steps: 50, seed: 0 },
      },
    ]);
    expect(await (await app.request('/v1/runs/t1')).json()).toMatchObject({ id: 't1', step: 1 });
  });

  it('re-attach to a run that is still going: the records and the latest preview, then live frames', async () => {
    const { app, train } = setup();
    for (const f of [preview(1), loss(1), preview(2), loss(2)]) train.next(f);
    const res = await app.request('/v1/runs/t1/frames');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.msgpack');
    const frames = decodeFrames(res.body!);
    const got = [(await frames.next()).value, (await frames.next()).value, (await frames.next()).value];
    expect(got).toEqual([loss(1), preview(2), loss(2)]);
    train.next(loss(3));
    expect((await frames.next()).value).toEqual(loss(3));
    train.next(done('t1'));
    train.complete();
    expect((await frames.next()).value).toEqual(done('t1'));
    expect((await frames.next()).done).toBe(true);
  });

  it('keep a training run going when a watcher leaves, unless it asked to cancel on disconnect', async () => {
    const { app, runs, train } = setup();
    train.next(loss(1));
    for await (const _ of decodeFrames((await app.request('/v1/runs/t1/frames')).body!)) break;
    expect(runs.get('t1')!.status().status).toBe('running');
    for await (const _ of decodeFrames((await app.request('/v1/runs/t1/frames?cancelOnDisconnect=1')).body!)) break;
    expect(runs.get('t1')!.status()).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
  });

  it('cancel a run on DELETE: the source stops, watchers get a cancelled error frame, and it stays listed', async () => {
    const { app, train } = setup();
    train.next(loss(1));
    const watching = app.request('/v1/runs/t1/frames');
    const res = await app.request('/v1/runs/t1', { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 't1', status: 'cancelled', step: 1 });
    expect(train.observed).toBe(false);
    expect((await framesOf(await watching)).at(-1)).toMatchObject({ type: 'error', code: 'cancelled' });
    expect(await (await app.request('/v1/runs/t1')).json()).toMatchObject({ status: 'cancelled' });
  });

  it('answer 404 JSON for an unknown run', async () => {
    const { app } = setup();
    for (const [path, method] of [
      ['/v1/runs/nope', 'GET'],
      ['/v1/runs/nope/frames', 'GET'],
      ['/v1/runs/nope/embedding', 'GET'],
      ['/v1/runs/nope', 'DELETE'],
    ]) {
      const res = await app.request(path, { method });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found', message: "no run 'nope'" } });
    }
  });

  it('serve the latest embedding once a checkpoint names one, and 404 before', async () => {
    const { app, train, files } = setup();
    const before = await app.request('/v1/runs/t1/embedding');
    expect(before.status).toBe(404);
    expect(await before.json()).toMatchObject({
      error: { code: 'not_found', message: "run 't1' has saved no embedding yet" },
    });
    files['/runs/t1/learned_embeds.safetensors'] = new Uint8Array([1, 2, 3]);
    train.next(checkpoint);
    const res = await app.request('/v1/runs/t1/embedding');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="learned_embeds.safetensors"');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('register generations too, and still cancel one when its client leaves (here with no time to re-attach)', async () => {
    const { app, runs, generate, stopped } = setup(0);
    const res = await app.request('/v1/generate', json({ prompt: 'x' }));
    generate.next(progress(1));
    for await (const _ of decodeFrames(res.body!)) break;
    expect(stopped.generate).toBe(1);
    expect(runs.get('g1')!.status()).toMatchObject({ kind: 'generate', status: 'cancelled' });
  });

  it('pass a pipeline description given beside the generate request, and name its bad fields', async () => {
    const seen: unknown[] = [];
    const app = createApp({ generate: (_req, _signal, pipeline) => (seen.push(pipeline), from([done('g')])) });
    const ok = await app.request(
      '/v1/generate',
      json({ prompt: 'x', pipeline: { sampler: { use: 'ddpm-ancestral' } } }),
    );
    expect(ok.status).toBe(200);
    expect(seen[0]).toMatchObject({ sampler: { use: 'ddpm-ancestral' }, preview: { use: 'latent-rgb' } });
    const bad = await app.request('/v1/generate', json({ prompt: 'x', pipeline: { sampler: { use: 'heun' } } }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'bad_request', field: 'pipeline.sampler.use' } });
  });
});

describe('the sampler field of POST /v1/generate', () => {
  it('passes a sampler named in the request on, lists it in the run, and refuses an unknown one', async () => {
    const seen: unknown[] = [];
    const app = createApp({
      generate: (req, _signal) => (seen.push(req), from([done('g')])),
      newRunId: () => 'g1',
    });
    const ok = await app.request('/v1/generate', json({ prompt: 'x', sampler: 'dpm++2m-karras' }));
    expect(ok.status).toBe(200);
    expect(seen[0]).toMatchObject({ sampler: 'dpm++2m-karras' });
    expect(await (await app.request('/v1/runs/g1')).json()).toMatchObject({ meta: { sampler: 'dpm++2m-karras' } });
    const bad = await app.request('/v1/generate', json({ prompt: 'x', sampler: 'heun' }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'bad_request', field: 'sampler' } });
  });
});

describe('GET /v1/stages', () => {
  it('lists every swappable stage alternative with its settings as JSON Schema', async () => {
    const res = await createApp({ generate: () => from([]) }).request('/v1/stages');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<
      string,
      Record<string, { use: string; schema: { properties: Record<string, unknown> } }[]>
    >;
    const uses = (slot: { use: string }[]) => slot.map((a) => a.use);
    expect(uses(body.generate.sampler)).toEqual(['ddim', 'ddpm-ancestral', 'euler', 'euler-a', 'dpm++2m']);
    const dpm = body.generate.sampler.find((a) => a.use === 'dpm++2m');
    expect(dpm?.schema.properties.karras).toMatchObject({ type: 'boolean' });
    expect(uses(body.generate.preview)).toEqual(['latent-rgb', 'vae', 'none']);
    expect(uses(body.train.lossWeighting)).toEqual(['uniform', 'min-snr']);
    expect(uses(body.train.optimizer)).toEqual(['adamw', 'sgd']);
    expect(uses(body.train.timesteps)).toEqual(['uniform']);
    expect(uses(body.train.augment)).toEqual(['augment']);
    expect(uses(body.train.inversion)).toEqual(['ti', 'dti', 'p-plus']);
    expect(body.train.optimizer[1].schema.properties.momentum).toMatchObject({
      type: 'number',
      default: 0.9,
      minimum: 0,
    });
    expect(body.generate.preview[1].schema.properties.every).toMatchObject({ type: 'integer', default: 10 });
  });
});
