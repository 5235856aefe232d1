import { describe, expect, it } from 'bun:test';
import { type Observable, of } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { PretrainRequest } from '../pretrain/pretrain-request.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp } from './app.ts';
import { memoryProbe } from '../../test/support/memory-probe.ts';
import { pathPolicy } from './path-policy.ts';

const post = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const loss = (step: number, phase: string): Frame => ({
  type: 'loss',
  runId: 'p1',
  step,
  loss: 1 / step,
  lr: 1e-3,
  gradNorm: 1,
  phase,
});

const appWith = (
  seen: PretrainRequest[],
  frames: () => Observable<Frame> = () =>
    of(loss(1, 'vae'), loss(2, 'diffusion'), { type: 'done' as const, runId: 'p1', summary: {} }),
) =>
  createApp({
    generate: () => of(),
    paths,
    newRunId: () => 'p1',
    pretrain: (req) => (seen.push(req), frames()),
  });

const paths = await pathPolicy({
  imageRoots: [],
  outRoot: '/srv/runs',
  modelRoots: [],
  probe: memoryProbe({ dirs: ['/srv/runs'] }),
});

describe('POST /v1/pretrain', () => {
  it('streams the run frames and registers the run as a pretraining run', async () => {
    const seen: PretrainRequest[] = [];
    const app = appWith(seen);
    const res = await app.request('/v1/pretrain', post({ seed: 3, scale: 0.01 }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-run-id')).toBe('p1');
    const frames: Frame[] = [];
    for await (const f of decodeFrames(res.body!)) frames.push(f);
    expect(frames.map((f) => f.type)).toEqual(['loss', 'loss', 'done']);
    expect(seen[0]).toMatchObject({ seed: 3, scale: 0.01, out: '/srv/runs/p1', checkpointEvery: 100 });
    const status = await (await app.request('/v1/runs/p1')).json();
    expect(status).toMatchObject({ kind: 'pretrain', step: 2 });
  });

  it('answers 400 naming the field of a bad request, and 403 for an output outside the runs folder', async () => {
    const seen: PretrainRequest[] = [];
    const app = appWith(seen);
    const bad = await app.request('/v1/pretrain', post({ scale: -1 }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.field).toBe('scale');
    const outside = await app.request('/v1/pretrain', post({ out: '/etc/tiny' }));
    expect(outside.status).toBe(403);
    expect(seen).toHaveLength(0);
  });

  it('is a 404 on a server that does not pretrain', async () => {
    const app = createApp({ generate: () => of() });
    expect((await app.request('/v1/pretrain', post({}))).status).toBe(404);
  });
});
