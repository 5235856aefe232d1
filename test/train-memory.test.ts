/**
 * TrainRequest.memory: the mode reaches the step's session and graph options, and it changes how the step is
 * computed, not what it computes.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain, type TrainDeps } from '../pipeline/train/run-train.ts';
import { gradOptionsFor, leanSessions } from '../weights/training/memory-mode.ts';
import { conceptFolder } from './train-helpers.ts';

const images = await conceptFolder(2);

/** Trains 3 steps on tiny under `memory`, recording the mode each step graph was opened with. */
const train = async (memory?: string) => {
  const real = trainDeps();
  const seen: (string | undefined)[] = [];
  const deps: TrainDeps = {
    ...real,
    openGraph: (graph, source, device, mode) => {
      seen.push(mode);
      return real.openGraph(graph, source, device, mode);
    },
  };
  const request = parseTrainRequest({
    images,
    token: '<disc>',
    init: 'circle',
    steps: 3,
    validateEvery: 0,
    previewEvery: 0,
    saveEvery: 0,
    out: mkdtempSync(join(tmpdir(), 'pseudoword-memory-')),
    ...(memory ? { memory } : {}),
  });
  const frames: Frame[] = await lastValueFrom(runTrain(request, deps).pipe(toArray()));
  const losses = frames.flatMap((f) => (f.type === 'loss' ? [f.loss] : []));
  return { seen, losses };
};

describe('the memory mode of a training run', () => {
  test('is auto unless asked, and refuses anything but auto, lean and fast', () => {
    expect(parseTrainRequest({ images: 'x', token: '<t>', init: 'cat' }).memory).toBe('auto');
    expect(() => parseTrainRequest({ images: 'x', token: '<t>', init: 'cat', memory: 'huge' })).toThrow(/memory/);
  });

  test('asks the autodiff to keep attention probabilities only when fast', () => {
    expect(gradOptionsFor('fast')).toEqual({ recomputeAttention: 'never' });
    expect(gradOptionsFor('lean')).toEqual({});
    expect(gradOptionsFor('auto')).toEqual({});
  });

  test('opens lean sessions when lean, never when fast, and by weight size when auto', () => {
    expect([leanSessions('lean', 1), leanSessions('fast', 2 ** 40)]).toEqual([true, false]);
    expect([leanSessions('auto', 2 ** 30 + 1), leanSessions('auto', 2 ** 30)]).toEqual([true, false]);
  });

  test('reaches the step session, and lean and fast train to the same losses on tiny', async () => {
    const lean = await train('lean');
    const fast = await train('fast');
    const auto = await train();
    expect([lean.seen[0], fast.seen[0], auto.seen[0]]).toEqual(['lean', 'fast', 'auto']);
    expect(lean.losses.length).toBe(3);
    // Same math: only summation order may differ (pre-packed vs unpacked products).
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(lean.losses[i] - fast.losses[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(fast.losses[i])));
      expect(Math.abs(auto.losses[i] - fast.losses[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(fast.losses[i])));
    }
  });
});
