/**
 * What pivotal tuning costs over textual inversion on `tiny`, measured side by side in one run: the same request
 * trained by `runTrain` with `method: 'ti'` and with `method: 'pivotal'` (rank 4, the LoRA updating on every step,
 * fraction 1), rounds interleaved; ms per step (set-up excluded: the first step's frame starts the clock) and the
 * ratio.
 *   npx bun bench/pivotal-step.ts [--steps 20] [--rounds 3]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { trainDeps } from '../adapters/train-deps.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { conceptFolder } from '../test/train-helpers.ts';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '20' }, rounds: { type: 'string', default: '3' } },
});
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const images = await conceptFolder(4);
const deps = trainDeps();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** ms per step after the first (graph building and the first run's allocations excluded). */
const msPerStep = async (method: 'ti' | 'pivotal') => {
  let first = 0;
  let last = 0;
  const request = parseTrainRequest({
    images,
    token: '<bench>',
    init: 'circle',
    steps,
    validateEvery: 0,
    previewEvery: 0,
    saveEvery: 0,
    method,
    lora: { rank: 4, fraction: 1 },
    out: mkdtempSync(join(tmpdir(), 'pw-bench-pivotal-')),
  });
  await lastValueFrom(
    runTrain(request, deps).pipe(
      tap((f) => {
        if (f.type === 'loss' && f.step === 1) first = performance.now();
        if (f.type === 'loss') last = performance.now();
      }),
      toArray(),
    ),
  );
  return { ms: (last - first) / (steps - 1) };
};

const ti: number[] = [];
const pivotal: number[] = [];
for (let r = 0; r < rounds; r++) {
  ti.push((await msPerStep('ti')).ms);
  pivotal.push((await msPerStep('pivotal')).ms);
}
console.log(`ti:      ${median(ti).toFixed(1)} ms/step (median of ${rounds} rounds of ${steps} steps)`);
console.log(`pivotal: ${median(pivotal).toFixed(1)} ms/step`);
console.log(`pivotal / ti: ${(median(pivotal) / median(ti)).toFixed(2)}`);
console.log(
  JSON.stringify({ steps, rounds, tiMs: median(ti), pivotalMs: median(pivotal), ratio: median(pivotal) / median(ti) }),
);
