/**
 * Generation on float16 exports: tiny, tiny-xl and the torch-made SD1 fixture, each converted by our own
 * `float16Folder` (no Optimum fp16 export is available offline), against the float32 folder it came from —
 * same prompt, seed and sampler. Metric: PSNR of the 8-bit RGB images and their largest channel difference.
 * Tolerance: PSNR ≥ 40 dB and no channel more than 8 levels apart. Half precision rounds each stored activation
 * by up to 2⁻¹¹ relative (weights too); onnxruntime's CPU provider computes between Casts in float32, so errors do
 * not compound within an op. Measured: 61.6 dB / 1 level (tiny), 60.8 / 1 (tiny-xl), 63.7 / 1 (torch fixture).
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';
import { openModel } from '../adapters/open-model.ts';
import { decodePng } from '../common/image/png.ts';
import { createRng } from '../common/numerics/rng.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { writeSafetensors } from '../weights/embeddings/safetensors.ts';
import { float16ModelDir } from './support/float16-model.ts';

const torchFolder = join(import.meta.dir, 'fixtures', 'torch-sd', 'folder');

const image = async (model: string, o: Record<string, unknown> = {}): Promise<Uint8Array> => {
  const m = await openModel(model);
  const fs = await lastValueFrom(
    runGenerate(
      parseGenerateRequest({ prompt: 'a photo of a red star', steps: 8, seed: 3, model, ...o }),
      { openModel: async () => m, withEmbeddings: loadEmbeddingsInto },
      {},
    ).pipe(toArray()),
  );
  const err = fs.find((f) => f.type === 'error');
  if (err) throw new Error(JSON.stringify(err));
  const img = fs.find((f) => f.type === 'image') as { png: Uint8Array };
  return (await decodePng(img.png)).data;
};

/** PSNR (dB) over the RGB channels and the largest channel difference, in 8-bit levels. */
const compare = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let se = 0;
  let max = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    const d = a[i] - b[i];
    se += d * d;
    max = Math.max(max, Math.abs(d));
    n++;
  }
  return { psnr: se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n)), max };
};

describe('generation on a float16 export', () => {
  for (const [label, name] of [
    ['tiny (SD1.x)', 'tiny'],
    ['tiny-xl (SDXL)', 'tiny-xl'],
    ['the torch-made SD1 folder', torchFolder],
  ] as const)
    test(`gives the float32 image of ${label} to half precision (PSNR ≥ 40 dB, ≤ 8 levels)`, async () => {
      const half = await float16ModelDir(name);
      // The converted folder really is float16 where Optimum's is: the UNet's sample and prediction.
      const unet = await (await openModel(half)).session('unet');
      expect(unet.inputs.find((i) => i.name === 'sample')?.dtype).toBe('float16');
      expect(unet.outputs[0].dtype).toBe('float16');
      const r = compare(await image(name), await image(half));
      expect(r.psnr).toBeGreaterThanOrEqual(40);
      expect(r.max).toBeLessThanOrEqual(8);
    });

  test('draws a loaded embedding (float32 vectors cast inside the float16 text encoder) as the float32 model does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-emb-'));
    const file = join(dir, 'blob.safetensors');
    const width = (await openModel('tiny')).info.hiddenSize;
    const data = createRng(5)
      .fillNormal(new Float32Array(width))
      .map((v) => v * 0.5);
    writeFileSync(file, writeSafetensors({ '<blob>': { shape: [1, width], data } }));
    const o = { prompt: 'a photo of a <blob>', embeddings: [file] };
    const [a, b] = [await image('tiny', o), await image(await float16ModelDir('tiny'), o)];
    const r = compare(a, b);
    expect(r.psnr).toBeGreaterThanOrEqual(40);
    expect(r.max).toBeLessThanOrEqual(8);
    // …and the embedding did change the image (the word is not ignored).
    expect(compare(a, await image('tiny')).max).toBeGreaterThan(8);
  });

  test('draws an SDXL clip_l/clip_g embedding on float16 tiny-xl as on float32 tiny-xl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-emb-'));
    const file = join(dir, 'blobxl.safetensors');
    const [w1, w2] = (await openModel('tiny-xl')).info.sdxl!.textWidths;
    const rng = createRng(6);
    const l = rng.fillNormal(new Float32Array(w1)).map((v) => v * 0.5);
    const g = rng.fillNormal(new Float32Array(w2)).map((v) => v * 0.5);
    writeFileSync(file, writeSafetensors({ clip_l: { shape: [1, w1], data: l }, clip_g: { shape: [1, w2], data: g } }));
    const o = { prompt: 'a photo of a blobxl', embeddings: [file] };
    const [a, b] = [await image('tiny-xl', o), await image(await float16ModelDir('tiny-xl'), o)];
    const r = compare(a, b);
    expect(r.psnr).toBeGreaterThanOrEqual(40);
    expect(r.max).toBeLessThanOrEqual(8);
    expect(compare(a, await image('tiny-xl')).max).toBeGreaterThan(8);
  });
});
