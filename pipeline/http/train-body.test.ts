import { describe, expect, it } from 'bun:test';
import { Subject, from } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import { createApp, type AppDeps } from './app.ts';
import type { UploadedFile } from './train-body.ts';
import { encodePng } from '../../common/image/png.ts';
import { memoryProbe } from '../../test/support/memory-probe.ts';
import { pathPolicy } from './path-policy.ts';

const done: Frame = { type: 'done', runId: 'run-1', summary: {} };
const base = { token: '<disc>', init: 'circle', steps: 4 };
const paths = await pathPolicy({
  imageRoots: ['/data/images', '/home/me/concepts'],
  outRoot: '/data/runs',
  modelRoots: [],
  probe: memoryProbe({ dirs: ['/data/images/cat', '/home/me/concepts', '/data/runs', '/etc', '/tmp'] }),
});

/** An app with a fake trainer and upload store that record what they were given. */
const setup = (more: Partial<AppDeps> = {}) => {
  const seen = {
    requests: [] as TrainRequest[],
    pipelines: [] as unknown[],
    ids: [] as (string | undefined)[],
    uploads: [] as UploadedFile[][],
    removed: [] as string[],
  };
  const app = createApp({
    generate: () => from([]),
    train: (req, pipeline, runId) => {
      seen.requests.push(req);
      seen.pipelines.push(pipeline);
      seen.ids.push(runId);
      return from([done]);
    },
    uploads: {
      save: async (_runId, files) => (seen.uploads.push(files), '/tmp/uploads/u1'),
      remove: async (runId) => void seen.removed.push(runId),
    },
    paths,
    newRunId: () => 'run-1',
    ...more,
  });
  return { app, seen };
};
const post = (body: unknown, query = '') =>
  [
    `/v1/train${query}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    },
  ] as const;
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; field?: string; message: string } }).error;
/** A real n×n PNG, so it passes the upload's decode check. */
const png = async (n: number) =>
  new File(
    [
      (await encodePng({
        width: n,
        height: n,
        channels: 4,
        data: new Uint8Array(n * n * 4).fill(7),
      })) as Uint8Array<ArrayBuffer>,
    ],
    'a.png',
    {
      type: 'image/png',
    },
  );
const garbage = (n: number) => new File([new Uint8Array(n).fill(7)], 'a.png', { type: 'image/png' });
const form = (request: unknown, files: File[]) => {
  const f = new FormData();
  if (request !== undefined) f.set('request', JSON.stringify(request));
  for (const file of files) f.append('images', file);
  return f;
};

describe('POST /v1/train', () => {
  it('starts a run from a folder inside an image root, writing into <outRoot>/<runId> by default', async () => {
    const { app, seen } = setup();
    const res = await app.request(
      ...post({ ...base, images: '/data/images/cat', pipeline: { optimizer: { use: 'sgd' } } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-run-id')).toBe('run-1');
    expect(seen.requests[0]).toMatchObject({
      images: '/data/images/cat',
      out: '/data/runs/run-1',
      token: '<disc>',
      steps: 4,
      lr: 5e-3,
    });
    expect(seen.pipelines[0]).toEqual({ kind: 'train', optimizer: { use: 'sgd', momentum: 0.9 } });
    expect(seen.ids).toEqual(['run-1']);
  });

  it('accepts a stage chosen as /v1/stages lists it, including a slot that has no use tag of its own', async () => {
    const { app, seen } = setup();
    const pipeline = { augment: { use: 'augment', flipProbability: 0 }, lossWeighting: { use: 'min-snr', gamma: 2 } };
    expect((await app.request(...post({ ...base, images: 'cat', pipeline }))).status).toBe(200);
    expect(seen.pipelines[0]).toEqual({
      kind: 'train',
      augment: { flipProbability: 0 },
      lossWeighting: { use: 'min-snr', gamma: 2 },
    });
  });

  it('takes the inversion method as a request field or as the pipeline slot, and names the field of a bad one', async () => {
    const { app, seen } = setup();
    expect((await app.request(...post({ ...base, images: 'cat', method: 'dti', earlyStop: 3 }))).status).toBe(200);
    expect(seen.requests[0]).toMatchObject({ method: 'dti', earlyStop: 3 });
    const pipeline = { inversion: { use: 'p-plus' } };
    expect((await app.request(...post({ ...base, images: 'cat', pipeline }))).status).toBe(200);
    expect(seen.pipelines[1]).toEqual({ kind: 'train', inversion: { use: 'p-plus' } });
    const bad = await app.request(...post({ ...base, images: 'cat', method: 'lora' }));
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatchObject({ code: 'bad_request', field: 'method' });
  });

  it('takes a relative images path from the first root and an out folder inside the output root', async () => {
    const { app, seen } = setup();
    expect((await app.request(...post({ ...base, images: 'cat', out: 'mine/cat' }))).status).toBe(200);
    expect(seen.requests[0]).toMatchObject({ images: '/data/images/cat', out: '/data/runs/mine/cat' });
  });

  it('answers 403 naming the field for an images or out path outside the roots, starting nothing', async () => {
    const { app, seen } = setup();
    for (const [body, field] of [
      [{ ...base, images: '/etc' }, 'images'],
      [{ ...base, images: '/data/images/../../etc' }, 'images'],
      [{ ...base, images: '../x' }, 'images'],
      [{ ...base, images: 'cat', out: '/tmp/elsewhere' }, 'out'],
      [{ ...base, images: 'cat', out: '../escape' }, 'out'],
      [{ ...base, images: 'cat', model: '/etc' }, 'model'],
    ] as const) {
      const res = await app.request(...post(body));
      expect(res.status).toBe(403);
      expect(await errorOf(res)).toMatchObject({ code: 'forbidden', field });
    }
    expect(seen.requests).toEqual([]);
  });

  it('answers 400 naming the field for malformed JSON, bad or unknown fields and a bad pipeline', async () => {
    const { app, seen } = setup();
    const bad = await app.request(...post('{"token": '));
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toStartWith('body is not valid JSON');
    for (const [body, field] of [
      [{ images: 'cat', init: 'circle' }, 'token'],
      [{ ...base, images: 'cat', steps: 0 }, 'steps'],
      [{ ...base, images: 'cat', token: 'two words' }, 'token'],
      [{ ...base, images: 'cat', lerning: 1 }, 'lerning'],
      [{ ...base, images: 'cat', pipeline: { optimizer: { use: 'adam' } } }, 'pipeline.optimizer.use'],
      [[1, 2], ''],
    ] as const) {
      const res = await app.request(...post(body));
      expect(res.status).toBe(400);
      const e = await errorOf(res);
      expect(e.code).toBe('bad_request');
      if (field) expect(e.field).toBe(field);
    }
    expect(seen.requests).toEqual([]);
  });

  it('saves uploaded images through the upload store and trains on that folder', async () => {
    const { app, seen } = setup();
    const files = [await png(4), await png(8)];
    const res = await app.request('/v1/train', { method: 'POST', body: form(base, files) });
    expect(res.status).toBe(200);
    expect(seen.uploads[0].map((f) => [f.name, f.bytes.byteLength])).toEqual(files.map((f) => [f.name, f.size]));
    expect(seen.requests[0]).toMatchObject({ images: '/tmp/uploads/u1', out: '/data/runs/run-1' });
    await res.arrayBuffer();
    // The run is over: its upload is removed, and the run's listing never named the server's folder.
    expect(seen.removed).toEqual(['run-1']);
    const listed = JSON.stringify(await (await app.request('/v1/runs')).json());
    expect(listed).not.toContain('/tmp/uploads');
    expect(listed).toContain('2 uploaded files');
  });

  it('answers 400 bad_image naming the file for an upload that is not an image, before saving anything', async () => {
    const { app, seen } = setup();
    const res = await app.request('/v1/train', { method: 'POST', body: form(base, [await png(4), garbage(30)]) });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ code: 'bad_image', field: 'images[1]' });
    expect(seen.uploads).toEqual([]);
  });

  it('refuses a broken upload with 400 naming the field, before saving anything', async () => {
    const { app, seen } = setup();
    for (const [body, field] of [
      [form(undefined, [garbage(1)]), 'request'],
      [form({ ...base, images: '/data/images/cat' }, [garbage(1)]), 'images'],
      [form(base, []), 'images'],
      [form({ ...base, steps: -1 }, [garbage(1)]), 'steps'],
    ] as const) {
      const res = await app.request('/v1/train', { method: 'POST', body: body });
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatchObject({ code: 'bad_request', field });
    }
    const notJson = new FormData();
    notJson.set('request', '{');
    expect(await errorOf(await app.request('/v1/train', { method: 'POST', body: notJson }))).toMatchObject({
      field: 'request',
    });
    expect(seen.uploads).toEqual([]);
  });

  it('answers 413 for an upload over the limit, whether Content-Length says so or only the bytes do', async () => {
    const { app, seen } = setup({ maxUploadBytes: 1000 });
    const source = new Request('http://localhost/', { method: 'POST', body: form(base, [garbage(2000)]) });
    const type = source.headers.get('content-type')!;
    const bytes = new Uint8Array(await source.arrayBuffer());
    // Content-Length alone decides: this body would fail if anyone read it.
    const unread = new ReadableStream<Uint8Array>({ pull: (c) => c.error(new Error('the body was read')) });
    const declared = await app.request('/v1/train', {
      method: 'POST',
      headers: { 'content-type': type, 'content-length': String(bytes.length) },
      body: unread,
      duplex: 'half',
    } as RequestInit);
    expect(declared.status).toBe(413);
    expect(await errorOf(declared)).toMatchObject({ code: 'too_large' });
    // A chunked body has no length: only counting while reading catches it.
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 100) c.enqueue(bytes.slice(i, i + 100));
        c.close();
      },
    });
    const chunked = await app.request('/v1/train', {
      method: 'POST',
      headers: { 'content-type': type },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(seen.uploads).toEqual([]);
  });

  it('refuses uploads with 403 when the server has no upload store', async () => {
    const { app } = setup({ uploads: undefined });
    const res = await app.request('/v1/train', { method: 'POST', body: form(base, [garbage(1)]) });
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toMatchObject({ code: 'forbidden', field: 'images' });
  });

  it('answers 202 with the status at once for ?detach=1', async () => {
    const train = new Subject<Frame>();
    const { app } = setup({ train: () => train });
    const res = await app.request(...post({ ...base, images: 'cat' }, '?detach=1'));
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/v1/runs/run-1');
    expect(await res.json()).toMatchObject({
      id: 'run-1',
      kind: 'train',
      status: 'running',
      meta: { token: '<disc>', images: '/data/images/cat' },
    });
    expect(train.observed).toBe(true);
  });

  it('answers 404 when the server was built without a trainer', async () => {
    const res = await createApp({ generate: () => from([]) }).request(...post({ ...base, images: 'cat' }));
    expect(res.status).toBe(404);
  });
});
