/**
 * Training over HTTP for real: the embedded `tiny` model, the real `runTrain` and its disk deps, driven through
 * `app.request` (no socket). Short runs, so the whole file takes a few tens of seconds on a CPU.
 */
import { describe, expect, it } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EMPTY } from 'rxjs';
import { trainDeps } from '../../adapters/train-deps.ts';
import { uploadStore } from '../../adapters/upload-store.ts';
import { conceptFolder } from '../../test/train-helpers.ts';
import { readEmbedding } from '../../weights/embeddings/embedding-file.ts';
import type { Frame } from '../../common/frames.ts';
import { createRunRegistry } from '../runs/run-registry.ts';
import type { RunStatus } from '../runs/run-status.ts';
import { runTrain } from '../train/run-train.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp, type AppDeps } from './app.ts';
import { diskProbe } from '../../adapters/safe-files.ts';
import { pathPolicy } from './path-policy.ts';

const images = await conceptFolder();
const outRoot = mkdtempSync(join(tmpdir(), 'pseudoword-runs-'));
const deps = trainDeps();
const uploads = uploadStore(mkdtempSync(join(tmpdir(), 'pseudoword-uploads-')));
let n = 0;
const appWith = async (more: Partial<AppDeps> = {}) =>
  createApp({
    generate: () => EMPTY,
    train: (req, pipeline, runId) => runTrain(req, { ...deps, newRunId: () => runId! }, pipeline),
    runs: createRunRegistry(),
    paths: await pathPolicy({ imageRoots: [dirname(images)], outRoot, modelRoots: [], probe: diskProbe }),
    uploads,
    readFile: deps.readFile,
    newRunId: () => `run-${++n}`,
    ...more,
  });
const app = await appWith();

const short = {
  token: '<disc>',
  init: 'circle',
  steps: 4,
  lr: 0.05,
  validateEvery: 2,
  validationImages: 1,
  validationSteps: 2,
  saveEvery: 2,
};
const post = (body: unknown, init: RequestInit = {}, query = '') =>
  app.request(`/v1/train${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};
const stepsOf = (fs: Frame[], type: Frame['type']) =>
  fs.filter((f) => f.type === type).map((f) => (f as { step: number }).step);
const statusOf = async (id: string) => (await (await app.request(`/v1/runs/${id}`)).json()) as RunStatus;
// Waits for the run, which goes on in the background; a generous bound so a slow machine is not a failure.
const until = async (id: string, check: (s: RunStatus) => boolean) => {
  for (let i = 0; i < 1200; i++) {
    const s = await statusOf(id);
    if (check(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  return statusOf(id);
};
const safetensorsKeys = (bytes: Uint8Array) => {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return Object.keys(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))));
};

describe('training over HTTP on tiny', () => {
  it('streams loss, validation, checkpoint and done frames, then serves the learned embedding', async () => {
    const res = await post({ ...short, images });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-run-id')!;
    const fs = await framesOf(res);
    expect(stepsOf(fs, 'loss')).toEqual([1, 2, 3, 4]);
    expect(stepsOf(fs, 'validation')).toEqual([2, 4]);
    expect(stepsOf(fs, 'checkpoint')).toEqual([2, 4]);
    expect(fs.at(-1)).toMatchObject({
      type: 'done',
      runId: id,
      summary: { steps: 4, token: '<disc>', out: join(outRoot, id) },
    });
    expect(fs.every((f) => f.runId === id)).toBe(true);
    const status = await statusOf(id);
    expect(status).toMatchObject({
      id,
      kind: 'train',
      status: 'done',
      step: 4,
      of: 4,
      embedding: join(outRoot, id, 'learned_embeds.safetensors'),
    });

    const file = await app.request(`/v1/runs/${id}/embedding`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/octet-stream');
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(safetensorsKeys(bytes)).toContain('<disc>');
    expect(readEmbedding(bytes, { fileName: 'learned_embeds.safetensors' }).token).toBe('<disc>');
    expect(bytes).toEqual(new Uint8Array(readFileSync(join(outRoot, id, 'learned_embeds.safetensors'))));
  });

  it('keeps training when the client disconnects mid-run, and replays the finished run to a new client', async () => {
    const client = new AbortController();
    const res = await post({ ...short, images, validateEvery: 0 }, { signal: client.signal });
    const id = res.headers.get('x-run-id')!;
    for await (const f of decodeFrames(res.body!)) if (f.type === 'loss') break; // leaving cancels the body…
    client.abort(); // …and the request goes away too
    expect((await statusOf(id)).status).toBe('running');
    const end = await until(id, (s) => s.status !== 'running');
    expect(end).toMatchObject({ status: 'done', step: 4 });
    const replay = await framesOf(await app.request(`/v1/runs/${id}/frames`));
    expect(stepsOf(replay, 'loss')).toEqual([1, 2, 3, 4]);
    expect(replay.at(-1)!.type).toBe('done');
  });

  it('stops a run on DELETE: a cancelled error frame, and no step after the one in flight', async () => {
    const res = await post({ ...short, images, steps: 500, validateEvery: 0, saveEvery: 1 }, {}, '?detach=1');
    expect(res.status).toBe(202);
    const id = res.headers.get('x-run-id')!;
    await until(id, (s) => s.step >= 2);
    const cancelled = await app.request(`/v1/runs/${id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const at = (await cancelled.json()) as RunStatus;
    expect(at).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
    const fs = await framesOf(await app.request(`/v1/runs/${id}/frames`));
    expect(fs.at(-1)).toMatchObject({ type: 'error', runId: id, code: 'cancelled' });
    // Give a still-running loop time for several more steps; none may come (one in flight may still save).
    await new Promise((r) => setTimeout(r, 3000));
    expect((await statusOf(id)).step).toBe(at.step);
    const saved = readdirSync(join(outRoot, id))
      .map((f) => /-steps-(\d+)\./.exec(f)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(Math.max(...saved)).toBeLessThanOrEqual(at.step + 1);
  });

  it('trains on uploaded PNGs sent as multipart/form-data', async () => {
    const body = new FormData();
    body.set('request', JSON.stringify({ ...short, steps: 2, validateEvery: 0 }));
    for (const name of readdirSync(images))
      body.append('images', new File([readFileSync(join(images, name))], name, { type: 'image/png' }));
    const res = await app.request('/v1/train', { method: 'POST', body });
    expect(res.status).toBe(200);
    const fs = await framesOf(res);
    expect(stepsOf(fs, 'loss')).toEqual([1, 2]);
    expect(fs.at(-1)!.type).toBe('done');
    const status = await statusOf(res.headers.get('x-run-id')!);
    // The upload folder is the server's own: not named in the status, and gone once the run has ended.
    expect(status.meta.images).toBe(`${readdirSync(images).length} uploaded files`);
    // Removal runs as the run ends, beside the last frame's delivery: give it a moment.
    for (let i = 0; i < 50 && readdirSync(uploads.root).length; i++) await Bun.sleep(20);
    expect(readdirSync(uploads.root)).toEqual([]);
  });

  it('refuses an oversized upload with 413, a folder outside the roots with 403, and a bad field with 400', async () => {
    const body = new FormData();
    body.set('request', JSON.stringify(short));
    body.append('images', new File([readFileSync(join(images, readdirSync(images)[0]))], 'a.png'));
    const big = await (await appWith({ maxUploadBytes: 100 })).request('/v1/train', { method: 'POST', body });
    expect(big.status).toBe(413);
    const outside = await post({ ...short, images: '/etc' });
    expect(outside.status).toBe(403);
    expect(await outside.json()).toMatchObject({ error: { code: 'forbidden', field: 'images' } });
    const bad = await post({ ...short, images, validationSteps: 'two' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'bad_request', field: 'validationSteps' } });
  });
});
