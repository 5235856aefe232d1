import { describe, expect, test } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../pipeline/train/run-train.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import { modelPath } from '../adapters/open-model.ts';
import { decodeModel, encodeModel } from '../weights/onnx/proto.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { encodePng } from '../common/image/png.ts';
import { conceptFolder, discImage } from './train-helpers.ts';

const deps = trainDeps();
const tmp = (p = 'pseudoword-bad-') => mkdtempSync(join(tmpdir(), p));
const request = (o: Record<string, unknown>) =>
  parseTrainRequest({
    token: '<disc>',
    init: 'circle',
    steps: 2,
    validateEvery: 0,
    previewEvery: 0,
    saveEvery: 0,
    out: tmp(),
    ...o,
  });
const train = (o: Record<string, unknown>) => lastValueFrom(runTrain(request(o), deps).pipe(toArray()));
const folderWith = async (files: Record<string, Uint8Array>) => {
  const dir = tmp('pseudoword-imgs-');
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
};

describe('training refuses bad input clearly', () => {
  test('a corrupt image is a bad_image naming the file', async () => {
    const good = await discImage(64, 32, 32, 12, [200, 0, 0], [0, 0, 200]);
    const images = await folderWith({ 'a.png': good, 'b.png': new Uint8Array([1, 2, 3, 4, 5]) });
    await expect(train({ images })).rejects.toMatchObject({
      code: 'bad_image',
      message: expect.stringContaining('b.png'),
    });
  });

  test('a truncated image is a bad_image naming the file', async () => {
    const good = await discImage(64, 32, 32, 12, [200, 0, 0], [0, 0, 200]);
    const images = await folderWith({ 'cut.png': good.slice(0, good.length - 30) });
    await expect(train({ images })).rejects.toMatchObject({
      code: 'bad_image',
      message: expect.stringContaining('cut.png'),
    });
  });

  test('an empty folder is a bad_request naming the folder', async () => {
    const images = tmp('pseudoword-empty-');
    await expect(train({ images })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining(images),
    });
  });

  test('a 1×1 image is refused with its size', async () => {
    const images = await folderWith({
      'dot.png': await encodePng({ width: 1, height: 1, channels: 4, data: Uint8Array.of(255, 0, 0, 255) }),
    });
    await expect(train({ images })).rejects.toMatchObject({
      code: 'bad_image',
      message: expect.stringContaining('1×1'),
    });
  });

  test('images with transparency train (composited over white)', async () => {
    const data = new Uint8Array(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++) data.set([255, 0, 0, i % 64 < 32 ? 255 : 0], i * 4);
    const images = await folderWith({ 'alpha.png': await encodePng({ width: 64, height: 64, channels: 4, data }) });
    const fs = await train({ images });
    expect(fs.filter((f) => f.type === 'loss')).toHaveLength(2);
  });

  test('an unknown model folder is not_found', async () => {
    await expect(train({ images: await conceptFolder(1), model: join(tmp(), 'missing') })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  test('a model with an op the autodiff cannot differentiate names the op and node', async () => {
    const dir = tmp('pseudoword-model-');
    cpSync(await modelPath('tiny'), dir, { recursive: true });
    const unet = decodeModel(new Uint8Array(readFileSync(join(dir, 'unet/model.onnx'))));
    const sig = unet.graph.nodes.findLast((n) => n.opType === 'Sigmoid')!; // the last SiLU before conv_out: downstream of cross-attention
    sig.opType = 'Unique'; // a real op with no derivative (at ties), on the path from the vectors to the loss
    writeFileSync(join(dir, 'unet/model.onnx'), encodeModel(unet));
    await expect(train({ images: await conceptFolder(1), model: dir })).rejects.toMatchObject({
      code: 'unsupported_op',
      message: expect.stringContaining('Unique'),
    });
  });

  test('a blow-up stops the run with a numeric error and keeps the last good checkpoint', async () => {
    const out = tmp();
    const images = await conceptFolder(2);
    await train({ images, steps: 2, saveEvery: 1, out });
    const before = readFileSync(join(out, 'learned_embeds.safetensors'));
    // Resume with an absurd lr (a change the resume must be told to accept): the first update overflows float32.
    await expect(
      train({ images, steps: 5, lr: 1e39, saveEvery: 1, out, resume: true, resumeWithChanges: true }),
    ).rejects.toMatchObject({
      code: 'numeric',
    });
    expect(readFileSync(join(out, 'learned_embeds.safetensors'))).toEqual(before);
    const e = readEmbedding(new Uint8Array(before), { fileName: 'x.safetensors' });
    expect(e.vectors.every(Number.isFinite)).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8')).step).toBe(2);
  });

  test('resuming with another model is refused', async () => {
    const out = tmp();
    await train({ images: await conceptFolder(1), out, saveEvery: 2 });
    const dir = tmp('pseudoword-model-');
    cpSync(await modelPath('tiny'), dir, { recursive: true });
    const te = decodeModel(new Uint8Array(readFileSync(join(dir, 'text_encoder/model.onnx'))));
    te.docString = 'another model';
    writeFileSync(join(dir, 'text_encoder/model.onnx'), encodeModel(te));
    await expect(
      train({ images: await conceptFolder(1), out, model: dir, steps: 4, resume: true }),
    ).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('model') });
    expect(existsSync(join(out, 'learned_embeds.safetensors'))).toBe(true);
  });

  test('malformed requests name the field', () => {
    expect(() => parseTrainRequest({ images: 'x', token: 'has space', init: 'a' })).toThrow(
      'token: must not contain whitespace',
    );
    expect(() => parseTrainRequest({ images: 'x', token: '<t\u0007>', init: 'a' })).toThrow(
      'token: must not contain whitespace or control characters',
    );
    // What an embedding file's metadata token may hold, so the written file loads back under it.
    expect(() => parseTrainRequest({ images: 'x', token: `<${'t'.repeat(300)}>`, init: 'a' })).toThrow('token:');
    expect(parseTrainRequest({ images: 'x', token: `<${'t'.repeat(254)}>`, init: 'a' }).token).toHaveLength(256);
    expect(() => parseTrainRequest({ images: 'x', token: '<t>', init: 'a', steps: -1 })).toThrow('steps: must be ≥ 1');
    expect(() => parseTrainRequest({ token: '<t>', init: 'a' })).toThrow('images: is required');
    expect(() => parseTrainRequest({ images: 'x', token: '<t>', init: 'a', lr: 'fast' })).toThrow(
      'lr: must be a number',
    );
  });
});
