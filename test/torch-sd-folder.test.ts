/**
 * A Stable Diffusion folder in the Optimum ONNX layout whose graphs were exported by torch.onnx, not by pseudoword
 * (made by test/fixtures/torch-sd/make_folder.py): int64 input_ids and timestep, VAE encoder output `latent_sample`.
 */
import { describe, expect, test } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskModelFiles } from '../adapters/fs.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { decodePng } from '../common/image/png.ts';
import type { Frame } from '../common/frames.ts';
import { openModelFolder } from '../weights/model-folder.ts';
import { conceptFolder } from './train-helpers.ts';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';

const dir = join(import.meta.dir, 'fixtures', 'torch-sd', 'folder');
const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);
const of = <T extends Frame['type']>(fs: Frame[], t: T) =>
  fs.filter((f): f is Extract<Frame, { type: T }> => f.type === t);

describe('a torch.onnx-exported Stable Diffusion folder', () => {
  test('opens with the shape the configs and graphs describe', () => {
    expect(model.info).toMatchObject({
      resolution: 64,
      latentChannels: 4,
      vaeScale: 8,
      hiddenSize: 32,
      scalingFactor: 0.18215,
    });
  });

  test('generates a 64×64 image in three steps and finishes', async () => {
    const fs = await lastValueFrom(
      runGenerate(parseGenerateRequest({ prompt: 'a photo of a red circle', steps: 3, seed: 1 }), {
        openModel: async () => model,
      }).pipe(toArray()),
    );
    expect(fs.at(-1)!.type).toBe('done');
    const images = of(fs, 'image');
    expect(images).toHaveLength(1);
    const png = await decodePng(images[0].png);
    expect([png.width, png.height]).toEqual([64, 64]);
  });

  for (const method of ['ti', 'dti', 'p-plus'] as const)
    test(`trains with the ${method} inversion method for three steps with finite losses and nonzero gradients, and its file generates`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'pseudoword-torch-sd-'));
      const request = parseTrainRequest({
        images: await conceptFolder(),
        token: '<t>',
        init: 'circle',
        steps: 3,
        validateEvery: 0,
        previewEvery: 0,
        saveEvery: 0,
        method,
        out,
      });
      const fs = await lastValueFrom(
        runTrain(request, { ...trainDeps(), openModel: async () => model }).pipe(toArray()),
      );
      const losses = of(fs, 'loss');
      expect(losses.map((f) => f.step)).toEqual([1, 2, 3]);
      for (const f of losses)
        expect(Number.isFinite(f.loss) && Number.isFinite(f.gradNorm) && f.gradNorm > 0).toBe(true);
      expect(fs.at(-1)).toMatchObject({ type: 'done', summary: { method } });
      const file = join(out, 'learned_embeds.safetensors');
      const generated = await lastValueFrom(
        runGenerate(parseGenerateRequest({ prompt: 'a photo of a <t>', steps: 2, seed: 1, embeddings: [file] }), {
          openModel: async () => model,
          withEmbeddings: loadEmbeddingsInto,
        }).pipe(toArray()),
      );
      expect(of(generated, 'image')).toHaveLength(1);
    });
});
