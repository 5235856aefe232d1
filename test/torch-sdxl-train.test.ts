/**
 * Textual inversion end to end on an SDXL folder that torch.onnx exported (test/fixtures/torch-sdxl/folder, made by
 * make_folder.py), not one pseudoword built: the run goes through `runTrain` with the train deps the CLI and the
 * HTTP server hand it (the model named by its folder path), and the `{clip_l, clip_g}` file it writes is loaded back
 * by `generate --embeddings` on the same folder. test/torch-sdxl-train-step.test.ts checks the step itself against
 * torch; this checks that the run around it trains (the deterministic validation loss falls, both encoders'
 * vectors move) and that what it writes is used by SDXL generation.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { run as generateCommand } from '../adapters/cli/commands/generate.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { decodePng } from '../common/image/png.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain, type TrainDeps } from '../pipeline/train/run-train.ts';
import { readEmbedding, writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { conceptFolder } from './train-helpers.ts';

const folder = join(import.meta.dir, 'fixtures', 'torch-sdxl', 'folder');
const [w1, w2] = [32, 48]; // text_encoder's and text_encoder_2's widths (make_folder.py's ENC1, ENC2)

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'pseudoword-torch-sdxl-train-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const images = await conceptFolder(3); // 64 px: the folder's resolution (sample_size 8 × VAE scale 8)
dirs.push(images);
const token = '<torch-disc>';
const of = <T extends Frame['type']>(fs: Frame[], t: T) =>
  fs.filter((f): f is Extract<Frame, { type: T }> => f.type === t);
const embedding = (path: string) =>
  readEmbedding(new Uint8Array(readFileSync(path)), { fileName: 'learned_embeds.safetensors' });

/** `pseudoword generate` on the torch folder with embedding files; returns the PNG's bytes. */
const draw = async (dir: string, name: string, prompt: string, embeddings: string[]) => {
  const png = join(dir, `${name}.png`);
  const write = process.stdout.write;
  process.stdout.write = () => true;
  try {
    await generateCommand([
      ...['--model', folder, '--prompt', prompt, '--steps', '3', '--seed', '7', '--out', png],
      ...embeddings.flatMap((e) => ['--embeddings', e]),
    ]);
  } finally {
    process.stdout.write = write;
  }
  return new Uint8Array(readFileSync(png));
};

describe('textual inversion on a torch.onnx-exported SDXL folder, end to end', () => {
  test('trains both encoders’ vectors (validation loss falls), and the written pair changes what generate draws', async () => {
    const out = tmp();
    const deps = trainDeps();
    const written: Record<string, Uint8Array>[] = [];
    const spy: TrainDeps = { ...deps, writeFiles: (dir, files) => (written.push(files), deps.writeFiles(dir, files)) };
    const steps = 8;
    const request = parseTrainRequest({
      model: folder,
      images,
      token,
      init: 'red circle',
      vectors: 2,
      steps,
      lr: 0.05,
      validateEvery: 1,
      validationImages: 0,
      previewEvery: 0,
      saveEvery: 0,
      out,
    });
    const fs = await lastValueFrom(runTrain(request, spy).pipe(toArray()));
    expect(fs.at(-1)?.type).toBe('done');
    const losses = of(fs, 'loss');
    expect(losses.map((f) => f.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    for (const f of losses) expect(Number.isFinite(f.loss) && f.gradNorm > 0).toBe(true);

    // The deterministic validation loss (same images, prompt, timesteps and noise each time; only the vectors
    // change) after the first step and after the last.
    const validation = of(fs, 'validation').map((f) => f.loss!);
    expect(validation).toHaveLength(steps);
    console.log(
      `torch-sdxl training: validation loss ${validation.map((l) => l.toFixed(6)).join(' → ')}; ` +
        `step losses ${losses.map((f) => f.loss.toFixed(4)).join(' ')}`,
    );
    expect(validation.at(-1)!).toBeLessThan(validation[0]);

    // Both encoders' vectors moved from where they started (the step-0 state, written before the first step).
    const state0 = JSON.parse(new TextDecoder().decode(written[0]['training-state.json']));
    expect([state0.step, state0.dim, state0.dim2]).toEqual([0, w1, w2]);
    const v0 = new Float32Array(Uint8Array.from(atob(state0.vectors), (c) => c.charCodeAt(0)).buffer);
    const trained = join(out, 'learned_embeds.safetensors');
    const e = embedding(trained);
    expect([e.layout, e.count, e.dim, e.clipG?.dim]).toEqual(['sdxl', 2, w1, w2]);
    const l0 = v0.subarray(0, 2 * w1);
    const g0 = v0.subarray(2 * w1);
    expect(e.vectors.some((x, i) => x !== l0[i])).toBe(true);
    expect(e.clipG!.vectors.some((x, i) => x !== g0[i])).toBe(true);

    // The same vectors' step-0 values, as a file of the same layout, name and token (the pair keeps its token in
    // its metadata, so both load as the token trained): the prompt naming it must draw differently with the trained
    // file than with this one, so the trained clip_l/clip_g rows are what generation reads.
    const startDir = tmp();
    const start = join(startDir, 'learned_embeds.safetensors');
    writeFileSync(
      start,
      writeEmbedding({ token, vectors: l0.slice(), count: 2, dim: w1, clipG: { vectors: g0.slice(), dim: w2 } }),
    );
    expect([embedding(trained).token, embedding(start).token]).toEqual([token, token]);
    const prompt = `a photo of ${token}`;
    const withTrained = await draw(out, 'trained', prompt, [trained]);
    const withStart = await draw(out, 'start', prompt, [start]);
    expect((await decodePng(withTrained)).width).toBe(64);
    expect(withTrained).not.toEqual(withStart);
    const [a, b] = [(await decodePng(withTrained)).data, (await decodePng(withStart)).data];
    let differ = 0;
    for (let i = 0; i < a.length; i++) differ += a[i] !== b[i] ? 1 : 0;
    console.log(`torch-sdxl generation: ${differ} of ${a.length} image bytes differ (trained vs step-0 vectors)`);
    // clip_g is read too (text_encoder_2's rows): the trained clip_l with the step-0 clip_g draws something else.
    const mixedDir = tmp();
    const mixed = join(mixedDir, 'learned_embeds.safetensors');
    writeFileSync(
      mixed,
      writeEmbedding({ token, vectors: e.vectors, count: 2, dim: w1, clipG: { vectors: g0.slice(), dim: w2 } }),
    );
    expect(await draw(mixedDir, 'mixed', prompt, [mixed])).not.toEqual(withTrained);
    // And generation is deterministic, so the difference is the vectors'.
    expect(await draw(out, 'trained-again', prompt, [trained])).toEqual(withTrained);
  });

  test('pseudoword train --model <the folder> runs from the CLI and writes the pair', () => {
    const out = tmp();
    const root = join(import.meta.dir, '..');
    const p = Bun.spawnSync(
      [
        process.execPath,
        join(root, 'adapters/cli/main.ts'),
        ...['train', '--model', folder, '--images', images, '--token', token, '--init', 'circle'],
        ...['--steps', '2', '--validate-every', '0', '--out', out],
      ],
      { cwd: root, stdout: 'pipe', stderr: 'pipe' },
    );
    expect(p.stderr.toString()).not.toContain('error');
    expect(p.exitCode).toBe(0);
    const e = embedding(join(out, 'learned_embeds.safetensors'));
    expect([e.layout, e.token, e.count, e.dim, e.clipG?.dim]).toEqual(['sdxl', token, 1, w1, w2]);
  });
});
