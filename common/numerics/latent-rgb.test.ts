import { describe, expect, it } from 'bun:test';
import { float32 } from '../tensor.ts';
import { latentRgbFactors, latentToRgb } from './latent-rgb.ts';

describe('latentToRgb', () => {
  it('maps SD1 latents through ComfyUI SD15 factors to hand-computed pixels', () => {
    // Two pixels, channel-major: pixel 0 = (1, 0, 0, 0), pixel 1 = (0, 0, 0, 2).
    const latent = float32([1, 4, 1, 2], [1, 0, 0, 0, 0, 0, 0, 2]);
    const { width, height, rgba } = latentToRgb(latent, 'sd1');
    expect([width, height]).toEqual([2, 1]);
    // Pixel 0 = row 0 = (0.3512, 0.2297, 0.3227) → ·127.5 after +1: 172.28, 156.79, 168.64.
    // Pixel 1 = 2·row 3 = (−0.424, −0.5232, −1.4354 → −1) → 73.44, 60.79, 0.
    expect(Array.from(rgba)).toEqual([172, 157, 169, 255, 73, 61, 0, 255]);
  });

  it('uses the SD15 factors for SD2, as ComfyUI does', () => {
    expect(latentRgbFactors.sd2).toEqual(latentRgbFactors.sd1);
  });

  it('adds the SDXL bias', () => {
    // A zero latent shows only the bias (0.1084, −0.0175, −0.0011): 141.32, 125.27, 127.36.
    const { rgba } = latentToRgb(float32([4, 1, 1]), 'sdxl');
    expect(Array.from(rgba)).toEqual([141, 125, 127, 255]);
  });

  it('accepts explicit factors for any channel count', () => {
    const latent = float32([2, 1, 1], [0.5, -0.25]);
    const { rgba } = latentToRgb(latent, {
      factors: [
        [1, 0, 0.5],
        [0, 2, 0.5],
      ],
      bias: [0, 0, 0.1],
    });
    // R = 0.5, G = −0.5, B = 0.25 − 0.125 + 0.1 = 0.225 → 191.25, 63.75, 156.19.
    expect(Array.from(rgba)).toEqual([191, 64, 156, 255]);
  });

  it("shows the tiny model's first three channels as RGB", () => {
    const { rgba } = latentToRgb(float32([1, 4, 1, 1], [1, -1, 0, 5]), 'tiny');
    expect(Array.from(rgba)).toEqual([255, 0, 128, 255]);
  });

  it('rejects factors whose rows do not match the channels', () => {
    expect(() => latentToRgb(float32([3, 1, 1]), 'sd1')).toThrow(expect.objectContaining({ code: 'shape_mismatch' }));
    expect(() => latentToRgb(float32([4, 4]), 'sd1')).toThrow(expect.objectContaining({ code: 'shape_mismatch' }));
  });
});
