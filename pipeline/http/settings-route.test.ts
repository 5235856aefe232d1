import { describe, expect, it } from 'bun:test';
import { Subject, from } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp } from './app.ts';
import { noPaths, type PathPolicy } from './path-policy.ts';
import { fieldDefaults } from './settings-route.ts';
import { z } from 'zod';

const paths: PathPolicy = { ...noPaths, roots: { images: ['/data/images'], out: '/data/runs', models: ['/models'] } };

describe('GET /v1/settings', () => {
  it("names the folders a request may use and the server's default for every field a request leaves out", async () => {
    const res = await createApp({ generate: () => from([]), paths }).request('/v1/settings');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      roots: Record<string, unknown>;
      defaults: { generate: Record<string, unknown>; train: Record<string, unknown>; pipelines: any };
    };
    expect(body.roots).toEqual({ images: ['/data/images'], models: ['/models'], out: '/data/runs' });
    // The values written in common/requests.ts and common/train/train-request.ts.
    expect(body.defaults.generate).toMatchObject({ steps: 50, guidance: 7.5, seed: 0, width: null, model: 'tiny' });
    expect(body.defaults.generate.prompt).toBeUndefined(); // required: no default
    expect(body.defaults.train).toMatchObject({ steps: 3000, lr: 0.005, validateEvery: 100, saveEvery: 500 });
    expect(body.defaults.pipelines.generate).toMatchObject({ preview: { use: 'latent-rgb', every: 1 } });
  });

  it('is behind the same guard as every /v1/ route: no token, no answer', async () => {
    const app = createApp({ generate: () => from([]), paths, guard: { token: 's3cret' } });
    expect((await app.request('/v1/settings')).status).toBe(401);
    const ok = await app.request('/v1/settings', { headers: { authorization: 'Bearer s3cret' } });
    expect(ok.status).toBe(200);
  });

  it('takes only the fields that have a default', () => {
    const schema = z.object({
      a: z.int().default(3),
      b: z.string(),
      c: z.string().optional(),
      d: z.null().default(null),
    });
    expect(fieldDefaults(schema)).toEqual({ a: 3, d: null });
  });
});

describe('POST /v1/train', () => {
  it("sends a 'load' progress frame before the run's own first frame, so the client has the run id at once", async () => {
    const train = new Subject<Frame>();
    const app = createApp({
      generate: () => from([]),
      train: () => train,
      newRunId: () => 't1',
      paths: { ...paths, images: async (p) => p, out: async (p) => p },
    });
    const res = await app.request('/v1/train', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ images: '/data/images/cat', token: '<cat>', init: 'cat', steps: 12 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-run-id')).toBe('t1');
    const frames = decodeFrames(res.body!);
    expect((await frames.next()).value).toEqual({
      type: 'progress',
      runId: 't1',
      step: 0,
      of: 12,
      phase: 'load',
      elapsedMs: 0,
    });
    train.complete();
  });
});
