import { describe, expect, test } from 'bun:test';
import { adamwInit, adamwStep } from './adamw.ts';
import { learningRate } from './lr-schedule.ts';
import { minSnrWeight } from './loss-weights.ts';

const cfg = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

describe('AdamW', () => {
  test('takes a first step of size lr·sign(g) after decay, as torch.optim.AdamW does', () => {
    // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g|+ε) ≈ lr·sign(g); decay multiplies θ by (1 − lr·λ) first.
    const p = Float32Array.of(1, -2);
    adamwStep(p, Float32Array.of(0.5, -3), adamwInit(2), 0.1, cfg);
    expect(p[0]).toBeCloseTo(1 * (1 - 0.001) - 0.1, 6);
    expect(p[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.1, 6);
  });

  test('matches a hand-worked second step', () => {
    const p = Float32Array.of(0);
    const s1 = adamwStep(p, Float32Array.of(1), adamwInit(1), 0.1, { ...cfg, weightDecay: 0 });
    adamwStep(p, Float32Array.of(-1), s1, 0.1, { ...cfg, weightDecay: 0 });
    // m₂ = 0.9·0.1 − 0.1 = −0.01, v₂ = 0.999·0.001 + 0.001 = 0.001999; m̂ = −0.01/0.19, v̂ = 0.001999/0.001999 = 1.
    const m = -0.01 / (1 - 0.81);
    const v = 0.001999 / (1 - 0.999 ** 2);
    expect(p[0]).toBeCloseTo(-0.1 - 0.1 * (m / (Math.sqrt(v) + 1e-8)), 6);
  });

  test('minimises a quadratic', () => {
    const p = Float32Array.of(3, -4);
    let s = adamwInit(2);
    for (let i = 0; i < 500; i++)
      s = adamwStep(
        p,
        Float32Array.from(p, (x) => 2 * x),
        s,
        0.05,
        { ...cfg, weightDecay: 0 },
      );
    expect(Math.hypot(p[0], p[1])).toBeLessThan(1e-2);
  });
});

describe('learning-rate schedules', () => {
  test('warm up linearly, then hold, decay linearly or follow half a cosine', () => {
    expect(learningRate('constant', 1, 5, 100, 10)).toBe(0.5);
    expect(learningRate('constant', 1, 50, 100, 10)).toBe(1);
    expect(learningRate('linear', 1, 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(learningRate('cosine', 1, 55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(learningRate('cosine', 1, 100, 100, 10)).toBeCloseTo(0, 12);
  });
});

describe('min-SNR weighting', () => {
  test('caps the weight at γ/SNR for easy (high-SNR) timesteps and is 1 below γ', () => {
    // ᾱ = 0.9 → SNR 9; γ = 5 → w = 5/9. ᾱ = 0.5 → SNR 1 < γ → w = 1.
    expect(minSnrWeight(0.9, 5, 'epsilon')).toBeCloseTo(5 / 9, 12);
    expect(minSnrWeight(0.5, 5, 'epsilon')).toBe(1);
    expect(minSnrWeight(0.5, 5, 'v_prediction')).toBeCloseTo(0.5, 12);
  });
});
