import { describe, expect, test } from 'bun:test';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { acceptCatalogUse, stageCatalog } from './stage-catalog.ts';

describe('the stage catalog', () => {
  test("lists the train pipeline's inversion methods with their settings, and a picked one is a valid description", () => {
    const inversion = stageCatalog().train.inversion;
    expect(inversion.map((a) => a.use)).toEqual(['ti', 'dti', 'p-plus', 'pivotal']);
    const pivotal = inversion.find((a) => a.use === 'pivotal')!;
    expect(Object.keys(pivotal.schema.properties as object).sort()).toEqual(['alpha', 'fraction', 'lr', 'rank', 'use']);
    const picked = acceptCatalogUse('train', { inversion: { use: 'pivotal', rank: 8 } });
    expect(trainPipelineDescription.parse(picked).inversion).toEqual({
      use: 'pivotal',
      rank: 8,
      fraction: 0.5,
      lr: 1e-4,
    });
  });
});
