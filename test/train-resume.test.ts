/**
 * Training that can be killed at any moment and resumed on tiny: a checkpoint torn between its files (the first
 * one or a later one), temp files left by a killed writer, and a resume that would change the seed, lr or schedule.
 * The reference each time is an uninterrupted run of the same request, compared byte for byte.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain, type TrainDeps } from '../pipeline/train/run-train.ts';
import { conceptFolder } from './train-helpers.ts';

const images = await conceptFolder(2);
const deps = trainDeps();
const outDir = () => mkdtempSync(join(tmpdir(), 'pseudoword-resume-'));
const base = { images, token: '<disc>', init: 'circle', steps: 6, lr: 0.05, validateEvery: 0, previewEvery: 0 };
const train = (o: Record<string, unknown>, d: TrainDeps = deps) =>
  lastValueFrom(runTrain(parseTrainRequest({ ...base, ...o }), d).pipe(toArray()));
const lossSteps = (fs: Frame[]) => fs.flatMap((f) => (f.type === 'loss' ? [f.step] : []));
const embedding = (dir: string) => readFileSync(join(dir, 'learned_embeds.safetensors'));

/** Deps whose checkpoint at `step` dies after writing its first file, as a kill between two renames would. */
const tornAt = (step: number): TrainDeps => ({
  ...deps,
  async writeFiles(dir, files) {
    const names = Object.keys(files);
    if (!names.includes(`learned_embeds-steps-${step}.safetensors`)) return deps.writeFiles(dir, files);
    await deps.writeFiles(dir, { [names[0]]: files[names[0]] });
    throw new Error('killed mid-checkpoint');
  },
});

const reference = outDir();
await train({ out: reference, saveEvery: 3 });

describe('resuming an interrupted training run on tiny', () => {
  test('a run killed while writing its first checkpoint resumes from its step-0 state, ending byte for byte equal', async () => {
    const out = outDir();
    const failed = await lastValueFrom(
      runTrain(parseTrainRequest({ ...base, out, saveEvery: 3 }), tornAt(3)).pipe(toArray()),
    ).catch((e: Error) => e);
    expect(failed).toMatchObject({ message: 'killed mid-checkpoint' });
    expect(readdirSync(out).sort()).toEqual(['learned_embeds-steps-3.safetensors', 'training-state.json']);
    expect(JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8')).step).toBe(0);
    const resumed = await train({ out, saveEvery: 3, resume: true });
    expect(lossSteps(resumed)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(embedding(out)).toEqual(embedding(reference));
    // …and the bytes compared are the trained ones, not the ones the run started from.
    expect(embedding(reference)).not.toEqual(readFileSync(join(reference, 'learned_embeds-steps-3.safetensors')));
  });

  test('a run killed while writing a later checkpoint resumes from the one before, ending byte for byte equal', async () => {
    const out = outDir();
    await train({ out, saveEvery: 2 }, tornAt(4)).catch(() => {});
    // Step 4's per-step file made it; the state (written last) still says step 2, a complete checkpoint.
    expect(existsSync(join(out, 'learned_embeds-steps-4.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8')).step).toBe(2);
    const resumed = await train({ out, saveEvery: 2, resume: true });
    expect(lossSteps(resumed)).toEqual([3, 4, 5, 6]);
    expect(embedding(out)).toEqual(embedding(reference));
  });

  test('a run asked to stop finishes its step, checkpoints it and ends without done; resumed, it ends byte for byte equal', async () => {
    const out = outDir();
    const stop = new AbortController();
    const frames = await lastValueFrom(
      runTrain(parseTrainRequest({ ...base, out }), deps, undefined, { signal: stop.signal }).pipe(
        tap((f) => f.type === 'loss' && f.step === 2 && stop.abort()),
        toArray(),
      ),
    );
    expect(lossSteps(frames)).toEqual([1, 2]);
    expect(frames.at(-1)).toMatchObject({ type: 'checkpoint', step: 2 });
    expect(frames.some((f) => f.type === 'done')).toBe(false);
    expect(readdirSync(out).sort()).toEqual([
      'learned_embeds-steps-2.safetensors',
      'learned_embeds.safetensors',
      'training-state.json',
    ]);
    expect(lossSteps(await train({ out, resume: true }))).toEqual([3, 4, 5, 6]);
    expect(embedding(out)).toEqual(embedding(reference));
  });

  test('a run stopped before its first step rewrites only its step-0 state, writing no untrained embedding', async () => {
    const out = outDir();
    const stop = new AbortController();
    stop.abort();
    const frames = await lastValueFrom(
      runTrain(parseTrainRequest({ ...base, out }), deps, undefined, { signal: stop.signal }).pipe(toArray()),
    );
    expect(lossSteps(frames)).toEqual([]);
    expect(frames.at(-1)).toMatchObject({ type: 'checkpoint', step: 0, files: [join(out, 'training-state.json')] });
    expect(readdirSync(out)).toEqual(['training-state.json']);
  });

  test('removes the temp files killed writers left in the out folder, and only those', async () => {
    const out = outDir();
    const dead = `learned_embeds.safetensors.tmp-${2 ** 30}-1`; // no process has this pid
    const ours = `training-state.json.tmp-${process.pid}-2`; // this process writes synchronously: never in flight
    const alive = `training-state.json.tmp-${process.ppid}-3`; // a live writer may still rename it
    for (const f of [dead, ours, alive]) writeFileSync(join(out, f), 'half');
    await train({ out, steps: 1 });
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([alive]);
  });

  test('refuses to resume with another seed, lr or schedule, naming them, unless told to go on with the changes', async () => {
    const out = outDir();
    await train({ out, steps: 2, saveEvery: 2 });
    const refused = (o: Record<string, unknown>) =>
      train({ out, steps: 4, resume: true, ...o }).then(
        () => undefined,
        (e) => e.details?.changed,
      );
    expect(await refused({ seed: 1, lr: 0.01 })).toEqual(['seed', 'lr']);
    expect(await refused({ schedule: 'cosine' })).toEqual(['schedule', 'steps']);
    expect(await refused({ warmup: 1 })).toEqual(['warmup']);
    expect(await refused({})).toBeUndefined(); // a constant schedule may go on for more steps
    const going = await train({ out, steps: 5, resume: true, seed: 3, resumeWithChanges: true });
    expect(lossSteps(going)).toEqual([5]);
  });

  test('the train command refuses --resume with a changed --seed, and goes on with --resume-with-changes', () => {
    const out = outDir();
    const cli = (...args: string[]) => {
      const flags = ['--images', images, '--token', '<disc>', '--init', 'circle', '--validate-every', '0'];
      const p = Bun.spawnSync(
        [process.execPath, join(import.meta.dir, '../adapters/cli/main.ts'), 'train', ...flags, '--out', out, ...args],
        {
          stdout: 'pipe',
          stderr: 'pipe',
        },
      );
      return { code: p.exitCode, err: p.stderr.toString() };
    };
    expect(cli('--steps', '1').code).toBe(0);
    const refused = cli('--steps', '2', '--resume', '--seed', '4');
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('seed was 0, now 4');
    expect(refused.err).toContain('--resume-with-changes');
    expect(cli('--steps', '2', '--resume', '--seed', '4', '--resume-with-changes').code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8'))).toMatchObject({ step: 2, seed: 4 });
  });
});
