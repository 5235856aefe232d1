/**
 * The inversion slot's methods on tiny, end to end: each trains, its file loads back and generates, and a run
 * stopped and resumed ends byte for byte as an uninterrupted one; dti holds the vocabulary's norm; a P+ file made
 * from an ordinary one draws what the ordinary one draws; early stopping ends a run with the best step's vectors.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';
import { openModel } from '../adapters/open-model.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { readEmbedding, writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { expandToPPlus } from '../weights/embeddings/p-plus-file.ts';
import { vocabularyNorm } from '../weights/methods/inversion-method.ts';
import { conceptFolder } from './train-helpers.ts';
import { loadStepGraph } from '../pipeline/train/train-setup.ts';
import { splitCrossAttention } from '../weights/methods/p-plus-unet.ts';
import { decodeModel } from '../weights/onnx/proto.ts';

const images = await conceptFolder(2);
const deps = trainDeps();
const outDir = () => mkdtempSync(join(tmpdir(), 'pseudoword-methods-'));
const base = { images, token: '<disc>', init: 'circle', steps: 4, lr: 0.05, validateEvery: 0, previewEvery: 0 };
const train = (o: Record<string, unknown>, signal?: AbortSignal) =>
  lastValueFrom(runTrain(parseTrainRequest({ ...base, ...o }), deps, undefined, { signal }).pipe(toArray()));
const lossSteps = (fs: Frame[]) => fs.flatMap((f) => (f.type === 'loss' ? [f.step] : []));
const embedding = (dir: string) => readFileSync(join(dir, 'learned_embeds.safetensors'));
const generate = async (embeddings: string[], prompt = 'a photo of a <disc>') => {
  const fs = await lastValueFrom(
    runGenerate(parseGenerateRequest({ prompt, steps: 3, seed: 2, embeddings }), {
      openModel: (n) => openModel(n),
      withEmbeddings: loadEmbeddingsInto,
    }).pipe(toArray()),
  );
  const image = fs.find((f): f is Extract<Frame, { type: 'image' }> => f.type === 'image');
  if (!image) throw new Error(`no image: ${JSON.stringify(fs.at(-1))}`);
  return image.png;
};

const tiny = await openModel('tiny');

describe('every inversion method on tiny', () => {
  for (const method of ['ti', 'dti', 'p-plus'] as const) {
    test(`${method}: trains, saves a file that loads back with the trained vectors and generates`, async () => {
      const out = outDir();
      const frames = await train({ out, method });
      expect(lossSteps(frames)).toEqual([1, 2, 3, 4]);
      expect(frames.at(-1)).toMatchObject({ type: 'done', summary: { method } });
      const file = join(out, 'learned_embeds.safetensors');
      const e = readEmbedding(readFileSync(file), { fileName: file });
      const state = JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8'));
      const saved = new Float32Array(Uint8Array.from(atob(state.vectors), (c) => c.charCodeAt(0)).buffer);
      expect(e.token).toBe('<disc>');
      expect(Array.from(e.perLayer?.vectors ?? e.vectors)).toEqual(Array.from(saved));
      expect(e.perLayer?.layers.length).toBe(method === 'p-plus' ? 7 : undefined);
      const png = await generate([file]);
      expect(png.byteLength).toBeGreaterThan(100);
      // The learned word is what draws: the same seed without it (the initializer word) draws something else.
      expect(Buffer.from(png).equals(Buffer.from(await generate([], 'a photo of a circle')))).toBe(false);
    });

    test(`${method}: a run stopped after step 2 and resumed ends byte for byte as an uninterrupted one`, async () => {
      const reference = outDir();
      await train({ out: reference, method });
      const out = outDir();
      const stop = new AbortController();
      const first = await lastValueFrom(
        runTrain(parseTrainRequest({ ...base, out, method }), deps, undefined, { signal: stop.signal }).pipe(
          tap((f) => f.type === 'loss' && f.step === 2 && stop.abort()),
          toArray(),
        ),
      );
      expect(lossSteps(first)).toEqual([1, 2]);
      expect(lossSteps(await train({ out, method, resume: true }))).toEqual([3, 4]);
      expect(embedding(out)).toEqual(embedding(reference));
      expect(readFileSync(join(out, 'training-state.json'))).toEqual(
        readFileSync(join(reference, 'training-state.json')),
      );
    });
  }

  test("p-plus with two vectors per token keeps each layer's two rows together, and its file generates", async () => {
    const out = outDir();
    await train({ out, method: 'p-plus', vectors: 2, steps: 2 });
    const file = join(out, 'learned_embeds.safetensors');
    const e = readEmbedding(readFileSync(file), { fileName: file });
    expect([e.count, e.perLayer?.layers.length, e.perLayer?.vectors.length]).toEqual([2, 7, 7 * 2 * e.dim]);
    // Trained layers differ from one another (each got its own gradient).
    const n = 2 * e.dim;
    expect(Array.from(e.perLayer!.vectors.subarray(0, n))).not.toEqual(
      Array.from(e.perLayer!.vectors.subarray(n, 2 * n)),
    );
    expect((await generate([file])).byteLength).toBeGreaterThan(100);
  });

  test('refuses to resume a run with another method, naming both', async () => {
    const out = outDir();
    await train({ out, steps: 1 });
    const refused = await train({ out, steps: 2, resume: true, method: 'dti' }).catch((e) => e);
    expect(refused.message).toContain('method ti, this run has dti');
  });
});

describe('dti', () => {
  test("holds every vector at the vocabulary's mean norm while its direction moves", async () => {
    const frames = await train({ out: outDir(), method: 'dti', steps: 3 });
    const { tableRows, dim, tableVectors } = await loadStepGraph(tiny, undefined);
    // The mean norm of the token table's rows, computed here row by row.
    let sum = 0;
    for (let i = 0; i < tableRows; i++) sum += Math.hypot(...tableVectors([i]));
    const radius = sum / tableRows;
    expect(vocabularyNorm({ dim, tableRows, tableVectors })).toBeCloseTo(radius, 6);
    const norms = frames.flatMap((f) => (f.type === 'loss' ? [f.embeddingNorm!] : []));
    expect(norms).toHaveLength(3);
    for (const n of norms) expect(Math.abs(n / radius - 1)).toBeLessThan(1e-6);
    // Plain TI from the same start moves the norm.
    const ti = (await train({ out: outDir(), steps: 3 })).flatMap((f) => (f.type === 'loss' ? [f.embeddingNorm!] : []));
    expect(Math.abs(ti[2] - ti[0])).toBeGreaterThan(1e-4);
  });
});

describe('P+ files', () => {
  test('an ordinary file expanded to P+ draws what the ordinary file draws', async () => {
    const out = outDir();
    await train({ out, steps: 2 });
    const plain = join(out, 'learned_embeds.safetensors');
    const e = readEmbedding(readFileSync(plain), { fileName: plain });
    const { layers } = splitCrossAttention(decodeModel((await tiny.files.readBytes('unet/model.onnx'))!));
    const pplus = join(out, 'p-plus.safetensors');
    writeFileSync(pplus, writeEmbedding(expandToPPlus(e, layers)));
    expect(readEmbedding(readFileSync(pplus), { fileName: pplus }).layout).toBe('p-plus');
    expect(Buffer.from(await generate([pplus])).equals(Buffer.from(await generate([plain])))).toBe(true);
  });

  test("refuses a P+ file whose layers are not the model's, naming both counts", async () => {
    const out = outDir();
    await train({ out, steps: 1 });
    const plain = join(out, 'learned_embeds.safetensors');
    const e = readEmbedding(readFileSync(plain), { fileName: plain });
    const other = join(out, 'other.safetensors');
    writeFileSync(other, writeEmbedding(expandToPPlus(e, ['a/attn2', 'b/attn2'])));
    const refused = await generate([other]).catch((err) => err);
    expect(refused.code).toBe('bad_embedding');
    expect(refused.message).toContain('2 cross-attention layers');
    expect(refused.message).toContain('this UNet has 7');
  });
});

describe('early stopping', () => {
  test("stops once the validation loss has not improved for `patience` rounds, keeping the best step's vectors", async () => {
    const out = outDir();
    const frames = await train({ out, steps: 30, validateEvery: 1, validationImages: 0, earlyStop: 2, saveEvery: 1 });
    const done = frames.at(-1)!;
    expect(done.type).toBe('done');
    const summary = (done as Extract<Frame, { type: 'done' }>).summary as {
      best: { step: number; loss: number };
      earlyStop: { step: number; patience: number };
    };
    const stopped = summary.earlyStop.step;
    expect(stopped).toBeLessThan(30);
    expect(summary.earlyStop.patience).toBe(2);
    expect(lossSteps(frames).at(-1)).toBe(stopped);
    // The two rounds after the best one did not beat it; every round before it did not either.
    const losses = new Map(frames.flatMap((f) => (f.type === 'validation' ? [[f.step, f.loss!] as const] : [])));
    expect(stopped - summary.best.step).toBe(2);
    for (const [step, loss] of losses)
      if (step !== summary.best.step) expect(loss).toBeGreaterThanOrEqual(summary.best.loss);
    // The result is the best step's vectors (its per-step checkpoint), not the last step's.
    expect(embedding(out)).toEqual(readFileSync(join(out, `learned_embeds-steps-${summary.best.step}.safetensors`)));
    expect(embedding(out)).not.toEqual(readFileSync(join(out, `learned_embeds-steps-${stopped}.safetensors`)));
    expect(frames.at(-2)).toMatchObject({ type: 'checkpoint', step: summary.best.step });
  });
});
