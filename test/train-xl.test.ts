/**
 * Textual inversion on tiny-xl, the embedded SDXL-structured model: both encoders' vectors trained in one step
 * graph, the `{clip_l, clip_g}` file that SDXL tools share, loaded back into SDXL generation, resumed byte for byte,
 * and refused across families with both widths named. From the library, the CLI and HTTP.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { run as generateCommand } from '../adapters/cli/commands/generate.ts';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';
import { openModel } from '../adapters/open-model.ts';
import { serverApp } from '../adapters/server-app.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { decodePng } from '../common/image/png.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { runTrain, type TrainDeps } from '../pipeline/train/run-train.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import { readEmbedding, writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { readSafetensors, writeSafetensors } from '../weights/embeddings/safetensors.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import { readTensorProto } from '../weights/onnx/tensor-proto.ts';
import { conceptFolder } from './train-helpers.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'pseudoword-train-xl-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const images = await conceptFolder(3);
dirs.push(images);
const xl = await openModel('tiny-xl');
const [w1, w2] = xl.info.sdxl!.textWidths;
const deps = trainDeps();
const base = {
  model: 'tiny-xl',
  images,
  token: '<disc>',
  init: 'red circle',
  vectors: 2,
  steps: 4,
  lr: 0.05,
  validateEvery: 0,
  previewEvery: 0,
  saveEvery: 2,
};
const train = (o: Record<string, unknown>, d: TrainDeps = deps) =>
  lastValueFrom(runTrain(parseTrainRequest({ ...base, ...o }), d).pipe(toArray()));
const of = <T extends Frame['type']>(fs: Frame[], t: T) =>
  fs.filter((f): f is Extract<Frame, { type: T }> => f.type === t);
const file = (dir: string, name = 'learned_embeds.safetensors') => new Uint8Array(readFileSync(join(dir, name)));
const embedding = (bytes: Uint8Array) => readEmbedding(bytes, { fileName: 'learned_embeds.safetensors' });

/** Rows of an encoder's token table, read straight from its graph. */
const tableRows = async (component: string, ids: number[]) => {
  const te = injectVectors(decodeModel((await xl.files.readBytes(`${component}/model.onnx`))!));
  const t = readTensorProto(te.model.graph.initializers.find((i) => i.name === te.table)!, (loc, off, len) =>
    xl.files.readRange(`${component}/${loc}`, off, len),
  );
  return ids.flatMap((id) => Array.from((t.data as Float32Array).subarray(id * te.dim, (id + 1) * te.dim)));
};

/** Generates the prompt on tiny-xl (with embedding files, as `generate --embeddings` does) and returns the PNG. */
const draw = async (prompt: string, embeddings: string[] = []) => {
  const fs = await lastValueFrom(
    runGenerate(parseGenerateRequest({ model: 'tiny-xl', prompt, steps: 2, seed: 3, sampler: 'ddim', embeddings }), {
      openModel: async () => xl,
      withEmbeddings: loadEmbeddingsInto,
    }).pipe(toArray()),
  );
  return of(fs, 'image')[0].png;
};

describe('textual inversion on tiny-xl (SDXL structure)', () => {
  test('starts each encoder’s vectors from the init phrase in its own table and trains both, streaming SD1.x’s frames', async () => {
    const out = tmp();
    const written: Record<string, Uint8Array>[] = [];
    const spy: TrainDeps = { ...deps, writeFiles: (dir, files) => (written.push(files), deps.writeFiles(dir, files)) };
    const fs = await train({ out, validateEvery: 2, validationImages: 1, validationSteps: 2, previewEvery: 2 }, spy);
    expect(of(fs, 'loss').map((f) => f.step)).toEqual([1, 2, 3, 4]);
    expect(of(fs, 'preview').map((f) => `${f.step}:${f.kind}`)).toContain('2:predicted');
    expect(of(fs, 'validation').map((f) => [f.step, f.images.length])).toEqual([
      [2, 1],
      [4, 1],
    ]);
    expect(of(fs, 'checkpoint').map((f) => f.step)).toEqual([2, 4]);
    expect(fs.at(-1)!.type).toBe('done');
    // The step-0 state: 'red circle' spread over the two vectors, in each encoder's own table and width.
    const state0 = JSON.parse(new TextDecoder().decode(written[0]['training-state.json']));
    expect([state0.step, state0.dim, state0.dim2]).toEqual([0, w1, w2]);
    const v0 = new Float32Array(Uint8Array.from(atob(state0.vectors), (c) => c.charCodeAt(0)).buffer);
    const init1 = xl.tokenizer.encode('red circle');
    const init2 = xl.tokenizer2!.encode('red circle');
    // Vector i of n starts as init token ⌊i·k/n⌋ of k (as for SD1.x).
    const spread = (ids: number[]) => [ids[0], ids[Math.floor(ids.length / 2)]];
    expect(Array.from(v0)).toEqual([
      ...(await tableRows('text_encoder', spread(init1))),
      ...(await tableRows('text_encoder_2', spread(init2))),
    ]);
    // The file SDXL tools share: clip_l [2, w₁] and clip_g [2, w₂], both moved by training.
    const e = embedding(file(out));
    expect([e.layout, e.count, e.dim, e.clipG?.dim]).toEqual(['sdxl', 2, w1, w2]);
    const l0 = v0.subarray(0, 2 * w1);
    const g0 = v0.subarray(2 * w1);
    expect(e.vectors.some((x, i) => x !== l0[i])).toBe(true);
    expect(e.clipG!.vectors.some((x, i) => x !== g0[i])).toBe(true);
    for (const f of of(fs, 'loss')) expect(Number.isFinite(f.loss) && f.gradNorm > 0).toBe(true);

    // The file keeps the trained token (in its metadata; the tensors carry none), so it loads back into SDXL
    // generation (the way `generate --embeddings` loads it) as '<disc>': the same prompt draws differently with the
    // file than without it, where '<disc>' is only text. A file loaded under another token would draw the same.
    expect(e.token).toBe('<disc>');
    const trained = join(out, 'learned_embeds.safetensors');
    const withFile = await draw('a photo of <disc>', [trained]);
    expect((await decodePng(withFile)).width).toBe(64);
    expect(withFile).not.toEqual(await draw('a photo of <disc>'));
    // And the trained values are what it reads: the step-0 vectors under the same token draw something else.
    const startDir = tmp();
    const start = join(startDir, 'learned_embeds.safetensors');
    writeFileSync(
      start,
      writeEmbedding({
        token: '<disc>',
        vectors: l0.slice(),
        count: 2,
        dim: w1,
        clipG: { vectors: g0.slice(), dim: w2 },
      }),
    );
    expect(withFile).not.toEqual(await draw('a photo of <disc>', [start]));
  });

  test('resumes byte for byte the same as an uninterrupted run (both encoders’ vectors and optimizer moments)', async () => {
    const a = tmp();
    await train({ out: a });
    const b = tmp();
    await train({ out: b, steps: 2 });
    const resumed = await train({ out: b, resume: true });
    expect(of(resumed, 'loss').map((f) => f.step)).toEqual([3, 4]);
    expect(file(b)).toEqual(file(a));
    const state = (dir: string) => {
      const { vectors, optimizer, dim, dim2 } = JSON.parse(readFileSync(join(dir, 'training-state.json'), 'utf8'));
      return { vectors, optimizer, dim, dim2 };
    };
    expect(state(b)).toEqual(state(a));
    expect(file(a)).not.toEqual(file(a, 'learned_embeds-steps-2.safetensors'));
  });

  test('a clip_l/clip_g file another tool wrote (no metadata) is named after its file, as A1111 and ComfyUI name it', async () => {
    const dir = tmp();
    const other = join(dir, 'other-tool.safetensors');
    const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const bytes = writeSafetensors({
      clip_l: { shape: [1, w1], data: ramp(w1) },
      clip_g: { shape: [1, w2], data: ramp(w2) },
    });
    expect(readSafetensors(bytes).metadata).toEqual({});
    writeFileSync(other, bytes);
    const loaded = await loadEmbeddingsInto(xl, [other]);
    expect(loaded.tokenizer.idOf('other-tool')).toBeDefined();
    expect(loaded.tokenizer2!.idOf('other-tool')).toBeDefined();
    expect(await draw('a photo of other-tool', [other])).not.toEqual(await draw('a photo of other-tool'));
  });

  test('an SD1 embedding on SDXL, and an SDXL one on SD1, are bad_embedding naming both widths', async () => {
    const dir = tmp();
    const sd1 = join(dir, 'sd1.safetensors');
    writeFileSync(sd1, writeEmbedding({ token: '<one>', vectors: new Float32Array(64), count: 1, dim: 64 }));
    await expect(draw('a <one>', [sd1])).rejects.toMatchObject({
      code: 'bad_embedding',
      message: expect.stringContaining(
        `holds [1, 64] (an SD1/SD2 embedding), but this SDXL model takes clip_l [n, ${w1}] and clip_g [n, ${w2}]`,
      ),
    });
    const pair = join(dir, 'xl.safetensors');
    writeFileSync(
      pair,
      writeEmbedding({
        token: '<two>',
        vectors: new Float32Array(w1),
        count: 1,
        dim: w1,
        clipG: { vectors: new Float32Array(w2), dim: w2 },
      }),
    );
    const tiny = await openModel('tiny');
    await expect(loadEmbeddingsInto(tiny, [pair])).rejects.toMatchObject({
      code: 'bad_embedding',
      message: expect.stringContaining(
        `is an SDXL embedding (clip_l [1, ${w1}] and clip_g [1, ${w2}]), but this model has one text encoder of width 64`,
      ),
    });
  });
});

describe('SDXL training from the edges', () => {
  test('pseudoword train --model tiny-xl writes a {clip_l, clip_g} file that generate --embeddings draws with', async () => {
    const out = tmp();
    const root = join(import.meta.dir, '..');
    const p = Bun.spawnSync(
      [
        process.execPath,
        join(root, 'adapters/cli/main.ts'),
        ...['train', '--model', 'tiny-xl', '--images', images, '--token', '<disc>', '--init', 'circle'],
        ...['--steps', '2', '--validate-every', '0', '--out', out],
      ],
      { cwd: root, stdout: 'pipe', stderr: 'pipe' },
    );
    expect(p.stderr.toString()).not.toContain('error');
    expect(p.exitCode).toBe(0);
    expect(embedding(file(out)).layout).toBe('sdxl');
    const png = join(out, 'drawn.png');
    const write = process.stdout.write;
    process.stdout.write = () => true;
    const bare = join(out, 'bare.png');
    try {
      await generateCommand([
        ...['--model', 'tiny-xl', '--prompt', 'a photo of <disc>', '--steps', '2', '--out', png],
        ...['--embeddings', join(out, 'learned_embeds.safetensors')],
      ]);
      await generateCommand(['--model', 'tiny-xl', '--prompt', 'a photo of <disc>', '--steps', '2', '--out', bare]);
    } finally {
      process.stdout.write = write;
    }
    expect((await decodePng(new Uint8Array(readFileSync(png)))).width).toBe(64);
    // The file's token is --token's: '<disc>' in the prompt draws with it (else the two images would be the same).
    expect(readFileSync(png)).not.toEqual(readFileSync(bare));
  });

  test('POST /v1/train with model tiny-xl streams the run to done and writes the pair', async () => {
    const root = tmp();
    const { app, close } = await serverApp({
      host: '127.0.0.1',
      imageRoots: [images],
      outRoot: join(root, 'runs'),
      modelRoots: [],
      uploadRoot: tmp(),
      maxUploadBytes: 2 ** 20,
    });
    try {
      const res = await app.request('/v1/train', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny-xl', images, token: '<disc>', init: 'circle', steps: 2, out: 'xl' }),
      });
      expect(res.status).toBe(200);
      const got: Frame[] = [];
      for await (const f of decodeFrames(res.body!)) got.push(f as Frame);
      expect(got.at(-1)?.type).toBe('done');
      expect(of(got, 'loss').map((f) => f.step)).toEqual([1, 2]);
      const e = embedding(file(join(root, 'runs', 'xl')));
      expect([e.layout, e.token, e.dim, e.clipG?.dim]).toEqual(['sdxl', '<disc>', w1, w2]);
      // POST /v1/generate loads the pair through the same reader: '<disc>' is the trained token there too.
      const generate = async (embeddings: string[]) => {
        const r = await app.request('/v1/generate', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'tiny-xl', prompt: 'a photo of <disc>', steps: 2, seed: 3, embeddings }),
        });
        expect(r.status).toBe(200);
        const frames: Frame[] = [];
        for await (const f of decodeFrames(r.body!)) frames.push(f as Frame);
        expect(frames.at(-1)?.type).toBe('done');
        return of(frames, 'image')[0].png;
      };
      expect(await generate([join(root, 'runs', 'xl', 'learned_embeds.safetensors')])).not.toEqual(await generate([]));
    } finally {
      await close();
    }
  });
});
