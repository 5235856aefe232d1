/**
 * On SDXL only `ti` is built (the other methods' hooks and graph rewrites assume one encoder's vectors): asking for
 * another is a clear bad_request naming the method, before anything is written.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { conceptFolder } from './train-helpers.ts';

describe('inversion methods on SDXL', () => {
  for (const method of ['dti', 'p-plus', 'pivotal'] as const)
    test(`--method ${method} on tiny-xl is a bad_request naming the method, and writes nothing`, async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'pseudoword-xl-method-')), 'run');
      const request = parseTrainRequest({
        images: await conceptFolder(),
        model: 'tiny-xl',
        token: '<disc>',
        init: 'circle',
        steps: 1,
        method,
        out,
      });
      const err = await lastValueFrom(runTrain(request, trainDeps()).pipe(toArray())).then(
        (fs: Frame[]) => fs,
        (e) => e,
      );
      expect(err).toMatchObject({ code: 'bad_request', details: { field: 'method' } });
      expect(String(err.message)).toContain(`--method ${method} trains SD1.x/SD2.x models`);
      expect(existsSync(join(out, 'training-state.json'))).toBe(false);
    });
});
