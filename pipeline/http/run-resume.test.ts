/**
 * Runs that outlive the server, over HTTP on tiny: a training run is "killed" right after a checkpoint (its store
 * stops taking writes at that instant, as a kill -9 would leave the disk, and the loop is stopped), a new registry
 * is built from the same store, and the run is listed, replayed, downloaded and resumed under its id. The resumed
 * run's embedding is compared byte for byte with an uninterrupted run of the same request.
 */
import { describe, expect, it } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EMPTY } from 'rxjs';
import { diskRunStore, runStoreFolder } from '../../adapters/run-store.ts';
import { diskProbe } from '../../adapters/safe-files.ts';
import { trainDeps } from '../../adapters/train-deps.ts';
import { uploadStore } from '../../adapters/upload-store.ts';
import type { Frame } from '../../common/frames.ts';
import { conceptFolder } from '../../test/train-helpers.ts';
import { createRunRegistry, type RunRegistry } from '../runs/run-registry.ts';
import type { RunStatus } from '../runs/run-status.ts';
import type { RunStore } from '../runs/run-store.ts';
import { runTrain } from '../train/run-train.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp } from './app.ts';
import { pathPolicy } from './path-policy.ts';

const images = await conceptFolder(2);
const outRoot = mkdtempSync(join(tmpdir(), 'pseudoword-runs-'));
const storeRoot = join(outRoot, runStoreFolder);
const deps = trainDeps();
let n = 0;
const appOver = async (runs: RunRegistry) =>
  createApp({
    generate: () => EMPTY,
    train: (req, pipeline, runId) => runTrain(req, { ...deps, newRunId: () => runId! }, pipeline),
    runs,
    paths: await pathPolicy({ imageRoots: [dirname(images)], outRoot, modelRoots: [], probe: diskProbe }),
    uploads: uploadStore(mkdtempSync(join(tmpdir(), 'pseudoword-uploads-'))),
    readFile: deps.readFile,
    newRunId: () => `run-${++n}`,
  });

/** A disk store that a "kill" silences at once: what it has written is what a killed server leaves. */
const killable = (store: RunStore) => {
  let dead = false;
  const quiet =
    <A extends unknown[], R>(f: (...a: A) => R, otherwise: R) =>
    (...a: A) =>
      dead ? otherwise : f(...a);
  const wrapped: RunStore = {
    load: () => store.load(),
    putRecord: quiet(store.putRecord, undefined),
    appendRecord: quiet(store.appendRecord, 0),
    putLatest: quiet(store.putLatest, undefined),
    rewrite: quiet(store.rewrite, 0),
    flush: quiet(store.flush, undefined),
    remove: quiet(store.remove, undefined),
  };
  return { store: wrapped, kill: () => (dead = true) };
};

const request = {
  images,
  token: '<disc>',
  init: 'circle',
  steps: 6,
  lr: 0.05,
  validateEvery: 0,
  previewEvery: 1,
  saveEvery: 2,
};
const post = (app: Awaited<ReturnType<typeof appOver>>, path: string, body?: unknown) =>
  app.request(path, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
const framesOf = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};
const lossSteps = (fs: Frame[]) => fs.flatMap((f) => (f.type === 'loss' ? [f.step] : []));
const statusOf = async (app: Awaited<ReturnType<typeof appOver>>, id: string) =>
  (await (await app.request(`/v1/runs/${id}`)).json()) as RunStatus;
const until = async (app: Awaited<ReturnType<typeof appOver>>, id: string) => {
  for (let i = 0; i < 1200 && (await statusOf(app, id)).status === 'running'; i++)
    await new Promise((r) => setTimeout(r, 100));
  return statusOf(app, id);
};
const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());

describe('runs that outlive the server', () => {
  it('lists, replays, serves and resumes a killed training run, ending byte for byte as an uninterrupted one', async () => {
    const first = killable(diskRunStore(storeRoot));
    const runs1 = createRunRegistry({ store: first.store });
    const app1 = await appOver(runs1);
    const started = await post(app1, '/v1/train?detach=1', request);
    expect(started.status).toBe(202);
    const id = started.headers.get('x-run-id')!;
    // Kill right after the step-2 checkpoint frame: the disk keeps what was written up to here, the loop stops.
    await new Promise<void>((resolve) => {
      const run = runs1.get(id)!;
      const off = run.onChange(() => {
        if (!run.status().files.length) return;
        off();
        first.kill();
        runs1.cancel(id);
        resolve();
      });
    });

    const runs2 = createRunRegistry({ store: diskRunStore(storeRoot) });
    const app2 = await appOver(runs2);
    const listed = ((await (await app2.request('/v1/runs')).json()) as RunStatus[]).find((r) => r.id === id);
    expect(listed).toMatchObject({
      kind: 'train',
      status: 'interrupted',
      step: 2,
      error: { code: 'interrupted' },
      embedding: join(outRoot, id, 'learned_embeds.safetensors'),
      meta: { token: '<disc>', out: join(outRoot, id) },
    });
    const replay = await framesOf(await app2.request(`/v1/runs/${id}/frames`));
    expect(lossSteps(replay)).toEqual([1, 2]);
    expect(replay.filter((f) => f.type === 'checkpoint').map((f) => (f as { step: number }).step)).toEqual([2]);
    // Previews are flushed at most once a second (adapters/run-store.ts): a kill this early may have lost them.
    expect(replay.at(-1)).toMatchObject({ type: 'error', code: 'interrupted', runId: id });
    const saved = await app2.request(`/v1/runs/${id}/embedding`);
    expect(saved.status).toBe(200);
    expect(await bytesOf(saved)).toEqual(new Uint8Array(readFileSync(join(outRoot, id, 'learned_embeds.safetensors'))));

    const resumed = await post(app2, `/v1/runs/${id}/resume?detach=1`);
    expect(resumed.status).toBe(202);
    expect(await resumed.json()).toMatchObject({ id, status: 'running', resumes: 1 });
    const again = await post(app2, `/v1/runs/${id}/resume`);
    expect([again.status, ((await again.json()) as { error: { code: string } }).error.code]).toEqual([409, 'conflict']);
    expect(await until(app2, id)).toMatchObject({ status: 'done', step: 6, resumes: 1 });
    const all = await framesOf(await app2.request(`/v1/runs/${id}/frames`));
    // Steps 1–2, then from the step-2 checkpoint on, in one history; the interruption is gone.
    expect(lossSteps(all)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.some((f) => f.type === 'error')).toBe(false);
    expect(all.at(-1)).toMatchObject({ type: 'done', runId: id, summary: { steps: 6 } });

    const whole = await post(app2, '/v1/train', request);
    const wholeId = whole.headers.get('x-run-id')!;
    expect((await framesOf(whole)).at(-1)!.type).toBe('done');
    const reference = await bytesOf(await app2.request(`/v1/runs/${wholeId}/embedding`));
    const got = await bytesOf(await app2.request(`/v1/runs/${id}/embedding`));
    expect(got).toEqual(reference);
    expect(got).toEqual(new Uint8Array(readFileSync(join(outRoot, id, 'learned_embeds.safetensors'))));
    expect(got).not.toEqual(new Uint8Array(readFileSync(join(outRoot, id, 'learned_embeds-steps-2.safetensors'))));

    // Finished now: resuming it again is a conflict, and so is it after yet another restart.
    const runs3 = createRunRegistry({ store: diskRunStore(storeRoot) });
    expect((await post(await appOver(runs3), `/v1/runs/${id}/resume`)).status).toBe(409);
    expect(runs3.get(id)!.status()).toMatchObject({ status: 'done', step: 6 });
  });

  it('refuses with 409 what cannot resume: a generation, an uploaded run, a cancelled one; 404 an unknown id', async () => {
    const runs = createRunRegistry({ store: diskRunStore(storeRoot) });
    const app = await appOver(runs);
    const gen = await post(app, '/v1/generate', { prompt: 'a disc' });
    const genId = gen.headers.get('x-run-id')!;
    await framesOf(gen);
    const body = new FormData();
    body.set('request', JSON.stringify({ ...request, images: undefined, steps: 1 }));
    body.append('images', new File([readFileSync(join(images, 'img0.png'))], 'img0.png', { type: 'image/png' }));
    const up = await app.request('/v1/train', { method: 'POST', body });
    const upId = up.headers.get('x-run-id')!;
    await framesOf(up);
    const long = await post(app, '/v1/train?detach=1', { ...request, steps: 500 });
    const longId = long.headers.get('x-run-id')!;
    await app.request(`/v1/runs/${longId}`, { method: 'DELETE' });
    for (const [rid, why] of [
      [genId, 'generate run'],
      [upId, 'it finished'],
      [longId, 'cancelled'],
    ]) {
      const res = await post(app, `/v1/runs/${rid}/resume`);
      expect(res.status).toBe(409);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(why);
    }
    // Even interrupted, an uploaded run could not go on: its images are removed when it ends.
    expect(runs.record!(upId)!.notResumable).toContain('uploaded images');
    expect((await post(app, '/v1/runs/nope/resume')).status).toBe(404);
  });

  it('ends a resume through POST /v1/train that changes the seed or lr with a bad_request naming them', async () => {
    const app = await appOver(createRunRegistry());
    const out = join(outRoot, 'changes');
    expect((await framesOf(await post(app, '/v1/train', { ...request, steps: 2, out }))).at(-1)!.type).toBe('done');
    const changed = await framesOf(await post(app, '/v1/train', { ...request, out, resume: true, seed: 5, lr: 0.1 }));
    expect(changed.at(-1)).toMatchObject({
      type: 'error',
      code: 'bad_request',
      message: expect.stringContaining('seed was 0, now 5; lr was 0.05, now 0.1'),
      details: { field: 'seed', changed: ['seed', 'lr'] },
    });
    const allowed = await post(app, '/v1/train', { ...request, out, resume: true, seed: 5, resumeWithChanges: true });
    expect(lossSteps(await framesOf(allowed))).toEqual([3, 4, 5, 6]);
  });
});
