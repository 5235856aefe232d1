import { describe, expect, it } from 'bun:test';
import { karrasSigmas, sigmaAt, timestepOfSigma, trainingSigmas, vpScale } from './sigmas.ts';

describe('σ schedules', () => {
  it('turns ᾱ into σ = √((1 − ᾱ)/ᾱ)', () => {
    // ᾱ = 0.9 → √(0.1/0.9) = 1/3; ᾱ = 0.5 → 1; ᾱ = 0.2 → √4 = 2.
    const s = trainingSigmas(Float64Array.of(0.9, 0.5, 0.2));
    expect(s[0]).toBeCloseTo(1 / 3, 12);
    expect(s[1]).toBeCloseTo(1, 12);
    expect(s[2]).toBeCloseTo(2, 12);
  });

  it('holds ᾱ = 0 (zero terminal SNR) at 2⁻²⁴, so the last σ is finite: √((1 − 2⁻²⁴)/2⁻²⁴) ≈ 4096', () => {
    expect(trainingSigmas(Float64Array.of(0))[0]).toBeCloseTo(Math.sqrt(2 ** 24 - 1), 8);
  });

  it('interpolates σ linearly between training timesteps and holds it at the ends', () => {
    const s = Float64Array.of(1, 2, 4);
    expect(sigmaAt(s, 1.25)).toBeCloseTo(2 + 0.25 * (4 - 2), 12); // 2.5
    expect(sigmaAt(s, 0)).toBe(1);
    expect(sigmaAt(s, 2)).toBe(4);
    expect(sigmaAt(s, 7)).toBe(4);
  });

  it('reads a timestep back off σ by interpolating in log σ', () => {
    const s = Float64Array.of(1, 2, 4);
    // log 2√2 lies halfway between log 2 and log 4, so t = 1.5; σ = 2 is exactly t = 1.
    expect(timestepOfSigma(2 * Math.SQRT2, s)).toBeCloseTo(1.5, 12);
    expect(timestepOfSigma(2, s)).toBeCloseTo(1, 12);
    // Past either end it clamps: below σ_0 → 0, above σ_{T−1} → T − 1.
    expect(timestepOfSigma(0.5, s)).toBe(0);
    expect(timestepOfSigma(9, s)).toBe(2);
  });

  it('spaces Karras σs evenly in σ^(1/ρ)', () => {
    // ρ = 2, σ 16 → 1 in 3 levels: √16 = 4, √1 = 1; midpoint (4 + 1)/2 = 2.5 → 2.5² = 6.25.
    const k = karrasSigmas(16, 1, 3, 2);
    expect(k[0]).toBeCloseTo(16, 12);
    expect(k[1]).toBeCloseTo(6.25, 12);
    expect(k[2]).toBeCloseTo(1, 12);
    // ρ = 7 (the default): the midpoint of 14.6146^(1/7) = 1.466892… and 0.0292^(1/7) = 0.603627… is 1.035260…,
    // and 1.035260^7 = 1.27452…
    expect(karrasSigmas(14.6146, 0.0292, 3)[1]).toBeCloseTo(((14.6146 ** (1 / 7) + 0.0292 ** (1 / 7)) / 2) ** 7, 10);
    expect(karrasSigmas(14.6146, 0.0292, 3)[1]).toBeCloseTo(1.27452, 4);
  });

  it('scales a σ-space sample back to the VP one by 1/√(σ² + 1)', () => {
    expect(vpScale(0)).toBe(1);
    expect(vpScale(Math.sqrt(3))).toBeCloseTo(0.5, 12);
  });
});
