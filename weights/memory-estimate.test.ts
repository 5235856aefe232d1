import { describe, expect, test } from 'bun:test';
import type { ModelInfo } from './model-info.ts';
import { admitSize, generationBytes, trainingBytes } from './memory-estimate.ts';

const tiny: ModelInfo = {
  family: 'tiny',
  resolution: 64,
  latentChannels: 4,
  vaeScale: 4,
  scalingFactor: 1,
  hiddenSize: 64,
  attentionHeads: 2,
};

describe('the working-memory estimate', () => {
  test('counts attention scores and their softmax, per head and batch item, as worked out by hand', () => {
    // 256 px on a ×4 VAE: 64·64 = 4096 cells, 4096² float32 scores = 64 MiB. UNet: 2 copies · 2 heads · 2 (guided)
    // · (1 + 1/16 + 1/256); VAE: 2 copies · 1.
    const scores = 4096 * 4096 * 4;
    expect(generationBytes(tiny, 256, 256, 1, true)).toBeCloseTo(8 * scores * (1 + 1 / 16 + 1 / 256) + 2 * scores, 0);
    expect(generationBytes(tiny, 256, 256, 1, false)).toBeLessThan(generationBytes(tiny, 256, 256, 1, true));
  });

  test("counts SDXL's largest attention at its first level that has one, a quarter of the cells, as by hand", () => {
    // 1024 px on ×8: 128·128 cells at level 0, which has no attention; level 1 has 64·64 = 4096 cells and 10 heads.
    const sdxl: ModelInfo = { ...tiny, vaeScale: 8, resolution: 1024, attentionHeads: 10, attentionLevel: 1 };
    const level1 = 4096 * 4096 * 4;
    const vae = 2 * (16384 * 16384 * 4);
    expect(generationBytes(sdxl, 1024, 1024, 1, true)).toBeCloseTo(40 * level1 * (1 + 1 / 16 + 1 / 256) + vae, 0);
  });

  test('grows with the square of the number of latent cells', () => {
    expect(generationBytes(tiny, 256, 256, 1, true) / generationBytes(tiny, 128, 128, 1, true)).toBeCloseTo(16, 6);
  });

  test('lets a request within the model and the limit through, naming the field or the sizes otherwise', () => {
    expect(() => admitSize(tiny, 256, 256, 1e9, 2e9)).not.toThrow();
    expect(() => admitSize(tiny, 512, 64, 1, 2e9)).toThrow(/width: 512 is more than this model allows \(256/);
    let e: unknown;
    try {
      admitSize(tiny, 256, 256, 3 * 2 ** 30, 2 ** 30);
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({ code: 'too_large' });
    expect((e as Error).message).toContain('about 3.0 GiB');
    expect(trainingBytes(tiny, 64, 1)).toBeGreaterThan(generationBytes(tiny, 64, 64, 1, false));
  });
});
