import { describe, expect, test } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../pipeline/train/run-train.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import type { Frame } from '../common/frames.ts';
import { conceptFolder } from './train-helpers.ts';

const images = await conceptFolder();
const deps = trainDeps();
const outDir = () => mkdtempSync(join(tmpdir(), 'pseudoword-train-'));
const train = (o: Record<string, unknown>, description?: unknown) =>
  lastValueFrom(
    runTrain(
      parseTrainRequest({
        images,
        token: '<disc>',
        init: 'circle',
        steps: 6,
        lr: 0.05,
        validateEvery: 3,
        validationImages: 1,
        validationSteps: 3,
        previewEvery: 2,
        saveEvery: 3,
        ...o,
      }),
      deps,
      description,
    ).pipe(toArray()),
  );
const of = <T extends Frame['type']>(fs: Frame[], t: T) =>
  fs.filter((f): f is Extract<Frame, { type: T }> => f.type === t);

describe('textual inversion training on tiny', () => {
  test('streams loss, previews, validation and checkpoint frames, and writes a diffusers embedding', async () => {
    const out = outDir();
    const fs = await train({ out });
    expect(of(fs, 'loss').map((f) => f.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(of(fs, 'preview').map((f) => `${f.step}:${f.kind}`)).toContain('2:predicted');
    expect(
      of(fs, 'progress')
        .filter((f) => f.phase === 'train')
        .map((f) => f.step),
    ).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The start-up says what it does: the first frame is the image-encoding phase, before the first step.
    expect(fs[0]).toMatchObject({ type: 'progress', phase: 'encode', step: 0, of: 6 });
    expect(fs[1]).toMatchObject({ type: 'progress', phase: 'train', step: 0 });
    expect(of(fs, 'validation').map((f) => f.step)).toEqual([3, 6]);
    expect(of(fs, 'validation')[0].images).toHaveLength(1);
    expect(of(fs, 'checkpoint').map((f) => f.step)).toEqual([3, 6]);
    expect(fs.at(-1)!.type).toBe('done');
    const e = readEmbedding(new Uint8Array(readFileSync(join(out, 'learned_embeds.safetensors'))), {
      fileName: 'learned_embeds.safetensors',
    });
    expect(e.token).toBe('<disc>');
    expect(e.layout).toBe('diffusers');
    expect(existsSync(join(out, 'learned_embeds-steps-3.safetensors'))).toBe(true);
    for (const f of of(fs, 'loss'))
      expect(Number.isFinite(f.loss) && f.gradNorm > 0 && f.embeddingNorm! > 0).toBe(true);
  });

  test('resumes bit for bit the same as an uninterrupted run', async () => {
    const a = outDir();
    const full = await train({ out: a, steps: 6, validateEvery: 0, saveEvery: 3 });
    const b = outDir();
    await train({ out: b, steps: 3, validateEvery: 0, saveEvery: 3 });
    const resumed = await train({ out: b, steps: 6, validateEvery: 0, saveEvery: 3, resume: true });
    expect(of(resumed, 'loss').map((f) => f.step)).toEqual([4, 5, 6]);
    expect(of(resumed, 'loss').map((f) => f.loss)).toEqual(
      of(full, 'loss')
        .slice(3)
        .map((f) => f.loss),
    );
    expect(readFileSync(join(b, 'learned_embeds.safetensors'))).toEqual(
      readFileSync(join(a, 'learned_embeds.safetensors')),
    );
  });

  test("keeps each vector within --max-norm-ratio of its initializer's norm, where an uncapped run grows past it", async () => {
    const norms = async (o: Record<string, unknown>) =>
      of(await train({ out: outDir(), validateEvery: 0, previewEvery: 0, saveEvery: 0, ...o }), 'loss').map(
        (f) => f.embeddingNorm!,
      );
    const [start] = await norms({ steps: 1, lr: 1e-12 }); // ‖v₀‖, the norm of 'circle'
    const free = await norms({});
    const capped = await norms({ maxNormRatio: 1.2 });
    expect(free.at(-1)!).toBeGreaterThan(1.3 * start);
    for (const n of capped) expect(n).toBeLessThanOrEqual(1.2 * start * (1 + 1e-5));
    expect(capped.at(-1)!).toBeCloseTo(1.2 * start, 4);
  });

  test('refuses to resume with another token', async () => {
    const a = outDir();
    await train({ out: a, steps: 2, validateEvery: 0, saveEvery: 2 });
    await expect(train({ out: a, token: '<other>', steps: 4, resume: true })).rejects.toMatchObject({
      code: 'bad_request',
    });
  });
});
