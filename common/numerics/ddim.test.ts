import { describe, expect, it } from 'bun:test';
import { createDdim } from './ddim.ts';

// A four-step schedule small enough to work by hand: β = 0.1, 0.2, 0.3, 0.4 → ᾱ = 0.9, 0.72, 0.504, 0.3024.
const TINY = { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4], clip_sample: false };
const SD15 = { steps_offset: 1, set_alpha_to_one: false, clip_sample: false };

const close = (a: ArrayLike<number>, b: ArrayLike<number>, digits = 5) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], digits);
};

/** A fixed, irregular test signal (not random: tests are deterministic). */
const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3) * 0.9);

describe('createDdim', () => {
  it('steps t=2 → 0 of a four-step schedule to the hand-worked value', () => {
    const ddim = createDdim(TINY);
    expect(ddim.timesteps(2)).toEqual([2, 0]);
    const { prevSample, predOriginal } = ddim.step({
      modelOutput: Float32Array.of(0.5, 0.25),
      timestep: 2,
      sample: Float32Array.of(1, -2),
    });
    // ᾱ_2 = 0.504, ᾱ_0 = 0.9. x̂0 = (1 − √0.496·0.5)/√0.504 = 0.912574…;
    // x_0 = √0.9·0.912574 + √0.1·0.5 = 1.023858…
    expect(predOriginal[0]).toBeCloseTo(0.9125746, 6);
    expect(prevSample[0]).toBeCloseTo(1.0238581, 6);
    // second element: x̂0 = (−2 − √0.496·0.25)/√0.504 = −3.065189; x = √0.9·x̂0 + √0.1·0.25 = −2.828836
    expect(predOriginal[1]).toBeCloseTo(-3.0651888, 5);
    expect(prevSample[1]).toBeCloseTo(-2.8288365, 5);
  });

  it('takes the final step to ᾱ = 1 when set_alpha_to_one, else to ᾱ_0', () => {
    const sample = Float32Array.of(0.4);
    const eps = Float32Array.of(-0.3);
    const one = createDdim(TINY).step({ modelOutput: eps, timestep: 0, sample, numSteps: 2 });
    // ᾱ_0 = 0.9: x̂0 = (0.4 + √0.1·0.3)/√0.9; with ᾱ_prev = 1 the next sample is x̂0 itself.
    const x0 = (0.4 + Math.sqrt(0.1) * 0.3) / Math.sqrt(0.9);
    expect(one.prevSample[0]).toBeCloseTo(x0, 6);
    const zero = createDdim({ ...TINY, set_alpha_to_one: false }).step({
      modelOutput: eps,
      timestep: 0,
      sample,
      numSteps: 2,
    });
    // ᾱ_prev = ᾱ_0 = 0.9: x = √0.9·x̂0 + √0.1·ε = the input again.
    expect(zero.prevSample[0]).toBeCloseTo(0.4, 6);
  });

  it('clips x̂0 to clip_sample_range before stepping', () => {
    const ddim = createDdim({ ...TINY, clip_sample: true, clip_sample_range: 1 });
    const { predOriginal, prevSample } = ddim.step({
      modelOutput: Float32Array.of(0.25),
      timestep: 2,
      sample: Float32Array.of(-2),
      numSteps: 2,
    });
    expect(predOriginal[0]).toBe(-1);
    expect(prevSample[0]).toBeCloseTo(Math.sqrt(0.9) * -1 + Math.sqrt(0.1) * 0.25, 6);
  });

  it('is deterministic at η = 0 and ignores any noise given', () => {
    const ddim = createDdim(SD15);
    ddim.timesteps(50);
    const input = { modelOutput: wave(64, 0.7), timestep: 981, sample: wave(64, 1.3) };
    const a = ddim.step(input).prevSample;
    const b = ddim.step({ ...input, noise: wave(64, 2.1) }).prevSample;
    expect(Array.from(a)).toEqual(Array.from(ddim.step(input).prevSample));
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('adds σ_t·z at η = 1 with σ_t from DDIM eq. 16', () => {
    const ddim = createDdim(TINY);
    const out = ddim.step({
      modelOutput: Float32Array.of(0.5),
      timestep: 2,
      sample: Float32Array.of(1),
      eta: 1,
      noise: Float32Array.of(2),
      numSteps: 2,
    });
    // σ² = (1−0.9)/(1−0.504)·(1 − 0.504/0.9) = 0.1/0.496·0.44
    const s2 = (0.1 / 0.496) * 0.44;
    const x0 = (1 - Math.sqrt(0.496) * 0.5) / Math.sqrt(0.504);
    expect(out.prevSample[0]).toBeCloseTo(Math.sqrt(0.9) * x0 + Math.sqrt(0.1 - s2) * 0.5 + Math.sqrt(s2) * 2, 6);
    expect(() =>
      ddim.step({ modelOutput: Float32Array.of(0.5), timestep: 2, sample: Float32Array.of(1), eta: 1 }),
    ).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('reads v-prediction: x̂0 = √ᾱ·x − √(1−ᾱ)·v and ε̂ = √ᾱ·v + √(1−ᾱ)·x', () => {
    const ddim = createDdim({ ...TINY, prediction_type: 'v_prediction' });
    const x0 = Float32Array.of(0.6, -0.2);
    const eps = Float32Array.of(-1.1, 0.7);
    const ab = 0.504;
    // Build x_t and v by hand, then the step must recover x0 and walk to √ᾱ'·x0 + √(1−ᾱ')·ε.
    const xt = x0.map((v, i) => Math.sqrt(ab) * v + Math.sqrt(1 - ab) * eps[i]);
    const v = x0.map((x, i) => Math.sqrt(ab) * eps[i] - Math.sqrt(1 - ab) * x);
    close(ddim.velocity(x0, eps, 2), v, 6);
    close(ddim.predictionTarget(x0, eps, 2), v, 6);
    const out = ddim.step({ modelOutput: v, timestep: 2, sample: xt, numSteps: 2 });
    close(out.predOriginal, x0, 5);
    close(
      out.prevSample,
      x0.map((x, i) => Math.sqrt(0.9) * x + Math.sqrt(0.1) * eps[i]),
      5,
    );
  });

  it('reads sample prediction: the model output is x̂0', () => {
    const ddim = createDdim({ ...TINY, prediction_type: 'sample' });
    const out = ddim.step({ modelOutput: Float32Array.of(0.5), timestep: 2, sample: Float32Array.of(1), numSteps: 2 });
    const eps = (1 - Math.sqrt(0.504) * 0.5) / Math.sqrt(0.496);
    expect(out.predOriginal[0]).toBe(0.5);
    expect(out.prevSample[0]).toBeCloseTo(Math.sqrt(0.9) * 0.5 + Math.sqrt(0.1) * eps, 6);
    expect(Array.from(ddim.predictionTarget(Float32Array.of(0.5), Float32Array.of(9), 2))).toEqual([0.5]);
  });

  it('applies dynamic thresholding per sample', () => {
    const ddim = createDdim({
      ...TINY,
      prediction_type: 'sample',
      thresholding: true,
      dynamic_thresholding_ratio: 1,
      sample_max_value: 2,
    });
    // Sample 1: max |x| = 3 → s = min(3, 2) = 2 → clamp to ±2, /2. Sample 2: max 0.5 → s = max(0.5, 1) = 1.
    const out = ddim.step({
      modelOutput: Float32Array.of(3, -2, 0.5, 0.1, 0.5, -0.25),
      timestep: 2,
      sample: new Float32Array(6),
      numSteps: 2,
      batch: 2,
    });
    close(out.predOriginal, [1, -1, 0.25, 0.1, 0.5, -0.25], 6);
  });

  it('walks SD1.5 back to x0 from addNoise when ε is predicted exactly', () => {
    const ddim = createDdim({ ...SD15, set_alpha_to_one: true });
    const x0 = wave(256, 0.37);
    const eps = wave(256, 1.91).map((v) => v * 1.4);
    const ts = ddim.timesteps(50);
    let x = ddim.addNoise(x0, eps, ts[0]);
    // With exact ε every DDIM(η=0) step keeps x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε; the last lands on ᾱ = 1, i.e. x0.
    for (const t of ts) x = ddim.step({ modelOutput: eps, timestep: t, sample: x }).prevSample;
    close(x, x0, 4);
  });

  it('adds noise as √ᾱ·x0 + √(1−ᾱ)·ε, one timestep per sample of a batch', () => {
    const ddim = createDdim(TINY);
    const z = ddim.addNoise(Float32Array.of(1, 1, 1, 1), Float32Array.of(1, -1, 1, -1), [0, 3]);
    close(
      z,
      [
        Math.sqrt(0.9) + Math.sqrt(0.1),
        Math.sqrt(0.9) - Math.sqrt(0.1),
        Math.sqrt(0.3024) + Math.sqrt(0.6976),
        Math.sqrt(0.3024) - Math.sqrt(0.6976),
      ],
      6,
    );
    expect(Array.from(ddim.predictionTarget(Float32Array.of(3), Float32Array.of(0.5), 1))).toEqual([0.5]);
  });

  it('reports mismatched lengths, unknown timesteps and a missing step count as errors', () => {
    const ddim = createDdim(TINY);
    const x = Float32Array.of(1);
    expect(() => ddim.step({ modelOutput: x, timestep: 2, sample: x })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    expect(() => ddim.step({ modelOutput: Float32Array.of(1, 2), timestep: 2, sample: x, numSteps: 2 })).toThrow(
      expect.objectContaining({ code: 'shape_mismatch' }),
    );
    expect(() => ddim.step({ modelOutput: x, timestep: 4, sample: x, numSteps: 2 })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    expect(() => ddim.addNoise(Float32Array.of(1, 2, 3), Float32Array.of(1, 2, 3), [0, 1])).toThrow(
      expect.objectContaining({ code: 'shape_mismatch' }),
    );
  });
});
