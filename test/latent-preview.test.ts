/**
 * The live x̂₀ preview of tiny (a linear latent→RGB map, one pixel per latent cell) looks like the image the
 * generation ends with: on generations of the shape world, its colours are compared with the decoded images,
 * averaged over the pixels each latent cell becomes, against two independent references — the best linear map
 * for those very images (least squares, fitted here) and the unfitted map that shows channels 0–2 as R, G, B.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { openModel } from '../adapters/open-model.ts';
import type { LatentRgbFactors } from '../common/numerics/latent-rgb.ts';
import { fitPreview } from '../pipeline/pretrain/fit-preview.ts';
import { previewError, previewPairs } from './support/latent-preview-pairs.ts';

const model = await openModel('tiny');
afterAll(() => model.release());

describe("tiny's latent→RGB preview", () => {
  test('is within 5 % of the best linear map to the decoded images, and less than half as far off as the raw channels', async () => {
    const pairs = await previewPairs(model, [100, 101, 102, 103, 104, 105, 106, 107], 3);
    // The rows are 3 long (model-info.ts checks it); the tuple type just cannot say so.
    const shipped = { factors: model.info.previewFactors, bias: model.info.previewBias } as unknown as LatentRgbFactors;
    const best = fitPreview(pairs.latents, pairs.pixels, pairs.count, pairs.channels, pairs.h, pairs.scale);
    const error = previewError(pairs, shipped);
    const bestError = previewError(pairs, best as unknown as LatentRgbFactors);
    const rawError = previewError(pairs, 'tiny');
    expect(error).toBeLessThan(bestError * 1.05);
    expect(error).toBeLessThan(rawError / 2);
    // In 0..255 steps per colour channel: the preview is a blurred sketch, not the image.
    expect(error).toBeLessThan(45);
  });
});
