import { describe, expect, it } from 'bun:test';
import { firstValueFrom, of } from 'rxjs';
import type { Predicted } from '../common/generate-state.ts';
import { createDpmSolver2m } from '../common/numerics/dpm-solver-2m.ts';
import { createEulerAncestral } from '../common/numerics/euler-ancestral.ts';
import { createRng } from '../common/numerics/rng.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { tensor } from '../common/tensor.ts';
import { samplerStep } from './sampler-step.ts';

const TINY = { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4], timestep_spacing: 'linspace' };
const dims = [1, 1, 1, 2];
const hidden = tensor('float32', [1, 1, 1], Float32Array.of(0));

// A state one step into a 3-step run (t = 3 done, t = 2 and 1 left), with the x̂₀ that step left behind.
const state = (seed = 0): Predicted => ({
  runId: 'r',
  request: parseGenerateRequest({ prompt: 'x', seed, steps: 3 }),
  width: 8,
  height: 8,
  startedAt: 0,
  cond: hidden,
  uncond: hidden,
  step: 1,
  of: 3,
  remaining: [2, 1],
  timestep: 3,
  latents: tensor('float32', dims, Float32Array.of(1, -0.5)),
  x0: tensor('float32', dims, Float32Array.of(0.8, 0.1)),
  prediction: tensor('float32', dims, Float32Array.of(0.5, 0.2)),
});

describe('samplerStep', () => {
  it('steps with the σ of how far the run is and the x̂₀ the previous step left', async () => {
    const dpm = createDpmSolver2m(TINY);
    const out = await firstValueFrom(of(state()).pipe(samplerStep(dpm, 'dpm++2m')));
    const want = dpm.step({
      modelOutput: Float32Array.of(0.5, 0.2),
      sample: Float32Array.of(1, -0.5),
      sigmas: dpm.schedule(3).sigmas,
      index: 1,
      previousDenoised: Float32Array.of(0.8, 0.1),
    });
    // The second-order step of dpm-solver-2m.test.ts: 1.058252 for x = 1, ε = 0.5, previous x̂₀ = 0.8.
    expect(out.latents.data[0]).toBeCloseTo(1.0582522, 6);
    expect(Array.from(out.latents.data)).toEqual(Array.from(want.prevSample));
    expect(Array.from(out.x0!.data)).toEqual(Array.from(want.predOriginal));
    expect([out.step, out.timestep, out.remaining]).toEqual([2, 2, [1]]);
  });

  it("draws the ancestral noise from the run's seed, one stream per step", async () => {
    const sampler = createEulerAncestral(TINY);
    const run = async (seed: number) =>
      Array.from((await firstValueFrom(of(state(seed)).pipe(samplerStep(sampler, 'euler-a')))).latents.data);
    const want = sampler.step({
      modelOutput: Float32Array.of(0.5, 0.2),
      sample: Float32Array.of(1, -0.5),
      sigmas: sampler.schedule(3).sigmas,
      index: 1,
      noise: createRng(7).fork('euler-a-1').fillNormal(new Float32Array(2)),
    });
    expect(await run(7)).toEqual(Array.from(want.prevSample));
    expect(await run(7)).toEqual(await run(7));
    expect(await run(8)).not.toEqual(await run(7));
  });
});
