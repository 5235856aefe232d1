import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, takeWhile, toArray } from 'rxjs';
import type { Frame } from '../common/frames.ts';
import { parsePretrainRequest, recipeOf } from '../pipeline/pretrain/pretrain-request.ts';
import { pretrainJob } from './pretrain-job.ts';

// The shipped recipe's shapes with a handful of steps (6 VAE, 1 decoder, 8 diffusion): every phase runs.
const request = parsePretrainRequest({ scale: 0.002, dataset: 64, checkpointEvery: 2, samples: ['a red circle'] });
const recipe = recipeOf(request);
const total = recipe.vae.steps + recipe.decoder.steps + recipe.diffusion.steps;
const root = mkdtempSync(join(tmpdir(), 'pseudoword-pretrain-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const job = (dir: string, resume = false) =>
  pretrainJob({ ...request, resume }, { out: join(dir, 'model'), work: dir }, () => {}, 'p');
const digest = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort()
    .map((p) => `${p.slice(dir.length)}:${new Bun.CryptoHasher('sha256').update(readFileSync(p)).digest('hex')}`);

describe('pretraining from a seed', () => {
  test('writes the model, its checkpoints, a loss line per step and samples, and the same bytes every time', async () => {
    const [a, b] = [join(root, 'a'), join(root, 'b')];
    const frames = await lastValueFrom(job(a).pipe(toArray()));
    expect(frames.filter((f) => f.type === 'loss')).toHaveLength(total);
    expect(frames.at(-2)?.type).toBe('validation');
    expect(readFileSync(join(a, 'loss.jsonl'), 'utf8').trim().split('\n')).toHaveLength(total);
    for (const f of ['vae.ckpt', 'decoder.ckpt', 'diffusion.ckpt', 'samples/a-red-circle.png', 'model/unet/model.onnx'])
      expect(existsSync(join(a, f))).toBe(true);
    await lastValueFrom(job(b).pipe(toArray()));
    expect(digest(join(b, 'model'))).toEqual(digest(join(a, 'model')));
  }, 300_000);

  test('resumed from a checkpoint, writes the same model as an uninterrupted run', async () => {
    const c = join(root, 'c');
    // Stop once the VAE's step-2 checkpoint is saved, then resume from the work folder.
    const isStop = (f: Frame) => f.type === 'checkpoint' && f.step === 2;
    await lastValueFrom(
      job(c).pipe(
        takeWhile((f) => !isStop(f), true),
        toArray(),
      ),
    );
    expect(existsSync(join(c, 'model'))).toBe(false);
    const rest = await lastValueFrom(job(c, true).pipe(toArray()));
    expect(rest.find((f) => f.type === 'loss')).toMatchObject({ step: 3, phase: 'vae' });
    expect(digest(join(c, 'model'))).toEqual(digest(join(root, 'a', 'model')));
  }, 300_000);
});
