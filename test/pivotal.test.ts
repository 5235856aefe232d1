/**
 * Pivotal tuning end to end: textual inversion plus a UNet LoRA, trained on tiny and on the torch-made SD1 folder,
 * saved in both key layouts, loaded back by generation, and resumed bit for bit.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { diskModelFiles } from '../adapters/fs.ts';
import { loadLoraInto, parseLoraFlag } from '../adapters/load-lora.ts';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';
import { openModel } from '../adapters/open-model.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { drawPrompt } from '../pipeline/world/eval.ts';
import { learnPivotal, pivotalModel } from '../pipeline/world/pivotal-method.ts';
import { readSafetensors } from '../weights/embeddings/safetensors.ts';
import { linearLayers } from '../weights/lora/lora-layers.ts';
import { readLora } from '../weights/lora/lora-file.ts';
import { openModelFolder } from '../weights/model-folder.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import { conceptFolder } from './train-helpers.ts';

const images = await conceptFolder(2);
const deps = trainDeps();
const outDir = () => mkdtempSync(join(tmpdir(), 'pseudoword-pivotal-'));
const base = {
  images,
  token: '<disc>',
  init: 'circle',
  steps: 6,
  lr: 0.05,
  validateEvery: 0,
  previewEvery: 0,
  method: 'pivotal',
  lora: { rank: 2, fraction: 0.5, lr: 0.01 },
};
const train = (o: Record<string, unknown>) =>
  lastValueFrom(runTrain(parseTrainRequest({ ...base, ...o }), deps).pipe(toArray()));
const lossSteps = (fs: Frame[]) => fs.flatMap((f) => (f.type === 'loss' ? [f.step] : []));
const file = (dir: string, name: string) => readFileSync(join(dir, name));
const ups = (bytes: Uint8Array) => {
  const f = readSafetensors(bytes);
  return f.tensors.filter((t) => /lora_up|lora_B/.test(t.name)).map((t) => f.float32(t.name));
};

const tiny = await openModel('tiny');
const tinyLayers = linearLayers(decodeModel((await tiny.files.readBytes('unet/model.onnx'))!));

const reference = outDir();
const referenceFrames = await train({ out: reference, saveEvery: 3, layout: 'kohya' });

describe('pivotal tuning on tiny', () => {
  test('trains the vectors throughout and the LoRA in the last half, writing both files in kohya keys', () => {
    expect(lossSteps(referenceFrames)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(referenceFrames.at(-1)!.type).toBe('done');
    expect(readdirSync(reference).sort()).toEqual([
      'learned_embeds-steps-3.safetensors',
      'learned_embeds.safetensors',
      'lora-steps-3.safetensors',
      'lora.safetensors',
      'training-state.json',
    ]);
    // Step 3 is the end of the textual-inversion half: B is still 0. After step 6 it is not.
    expect(ups(file(reference, 'lora-steps-3.safetensors')).every((b) => b.every((v) => v === 0))).toBe(true);
    expect(ups(file(reference, 'lora.safetensors')).every((b) => b.some((v) => v !== 0))).toBe(true);
    const f = readSafetensors(file(reference, 'lora.safetensors'));
    const names = f.tensors.map((t) => t.name);
    expect(names).toContain('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight');
    expect(names).toContain('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_up.weight');
    expect(names).toContain('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha');
    expect(f.float32('lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha')).toEqual(
      Float32Array.of(2),
    );
    // The same number of layers as the UNet has attention projections, 3 tensors each.
    const projections = tinyLayers.filter((l) => /(to_q|to_k|to_v|to_out\.0)$/.test(l.path)).length;
    expect(names.length).toBe(3 * projections);
  });

  test('a stopped run resumed ends byte for byte equal, LoRA and its optimizer state included', async () => {
    const out = outDir();
    const stop = new AbortController();
    const frames = await lastValueFrom(
      runTrain(parseTrainRequest({ ...base, out, saveEvery: 3, layout: 'kohya' }), deps, undefined, {
        signal: stop.signal,
      }).pipe(
        tap((f) => f.type === 'loss' && f.step === 5 && stop.abort()),
        toArray(),
      ),
    );
    expect(lossSteps(frames)).toEqual([1, 2, 3, 4, 5]); // stopped inside the LoRA half, AdamW moments nonzero
    const state = JSON.parse(file(out, 'training-state.json').toString());
    expect(state.loraState.optimizer.step).toBe(2);
    expect(lossSteps(await train({ out, saveEvery: 3, layout: 'kohya', resume: true }))).toEqual([6]);
    expect(file(out, 'lora.safetensors')).toEqual(file(reference, 'lora.safetensors'));
    expect(file(out, 'learned_embeds.safetensors')).toEqual(file(reference, 'learned_embeds.safetensors'));
    expect(file(out, 'training-state.json')).toEqual(file(reference, 'training-state.json'));
  });

  test('before the LoRA half it is plain textual inversion, and validation draws with the current LoRA', async () => {
    // Two steps, fraction 0.5: step 1 is textual inversion, step 2 updates the LoRA for the first time. Every
    // gradient is taken while B = 0, so the vectors equal a ti run's bit for bit; only the LoRA differs.
    const run = async (method: string) => {
      const out = outDir();
      const fs = await train({
        out,
        steps: 2,
        saveEvery: 0,
        method,
        validateEvery: 2,
        validationImages: 1,
        validationSteps: 2,
      });
      const v = fs.find((f) => f.type === 'validation');
      return { out, v: v as Extract<Frame, { type: 'validation' }> };
    };
    const ti = await run('ti');
    const pivotal = await run('pivotal');
    expect(file(pivotal.out, 'learned_embeds.safetensors')).toEqual(file(ti.out, 'learned_embeds.safetensors'));
    expect(ups(file(pivotal.out, 'lora.safetensors')).some((b) => b.some((x) => x !== 0))).toBe(true);
    expect(pivotal.v.loss).not.toBe(ti.v.loss);
    expect(pivotal.v.images[0].png).not.toEqual(ti.v.images[0].png);
  });

  test('stopped early, the result is the best step’s word and LoRA together, not the last step’s adapter', async () => {
    const out = outDir();
    const fs = await train({
      out,
      steps: 30,
      lr: 0.2,
      validateEvery: 1,
      validationImages: 0,
      saveEvery: 1,
      earlyStop: 2,
      layout: 'kohya',
      lora: { rank: 2, fraction: 1, lr: 0.05 },
    });
    const done = fs.at(-1) as Extract<Frame, { type: 'done' }>;
    const { best, earlyStop } = done.summary as { best: { step: number }; earlyStop?: { step: number } };
    expect(earlyStop?.step).toBeLessThan(30);
    // Both result files are the best step's checkpoint files, and the adapter moved after it.
    expect(file(out, 'learned_embeds.safetensors')).toEqual(file(out, `learned_embeds-steps-${best.step}.safetensors`));
    expect(file(out, 'lora.safetensors')).toEqual(file(out, `lora-steps-${best.step}.safetensors`));
    expect(file(out, 'lora.safetensors')).not.toEqual(file(out, `lora-steps-${earlyStop!.step}.safetensors`));
  });

  test('a resume with another LoRA rank is refused, naming it', async () => {
    const out = outDir();
    await train({ out, steps: 1, saveEvery: 0 });
    await expect(train({ out, steps: 1, resume: true, lora: { rank: 3 } })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('rank 2'),
    });
  });

  test('the diffusers layout holds the same adapter (alpha/rank folded into lora_B)', async () => {
    const out = outDir();
    await train({ out, saveEvery: 0, layout: 'diffusers' });
    const kohya = readLora(file(reference, 'lora.safetensors'), tinyLayers);
    const diffusers = readLora(file(out, 'lora.safetensors'), tinyLayers);
    expect(kohya.layout).toBe('kohya');
    expect(diffusers.layout).toBe('diffusers');
    expect(readSafetensors(file(out, 'lora.safetensors')).tensors[0].name).toMatch(/^unet\..*\.lora_[AB]\.weight$/);
    expect(diffusers.layers.map((l) => l.path)).toEqual(kohya.layers.map((l) => l.path));
    for (const [i, k] of kohya.layers.entries()) {
      const d = diffusers.layers[i];
      expect(d.scale).toBe(1);
      expect(d.a).toEqual(k.a);
      // alpha 2 = rank 2 here, so B is the same number; the fold is checked in lora-file.test.ts.
      for (let j = 0; j < k.b.length; j++) expect(d.b[j]).toBeCloseTo(k.b[j] * k.scale, 6);
    }
  });

  test('generate loads the saved embedding and LoRA (kohya keys), the LoRA changes the image, and scale 0 changes nothing', async () => {
    const request = (lora: { file: string; scale: number }[]) =>
      parseGenerateRequest({
        prompt: 'a photo of <disc>',
        steps: 3,
        seed: 1,
        embeddings: [join(reference, 'learned_embeds.safetensors')],
        lora,
      });
    const png = async (lora: { file: string; scale: number }[]) => {
      const fs = await lastValueFrom(
        runGenerate(request(lora), {
          openModel: async () => tiny,
          withEmbeddings: loadEmbeddingsInto,
          withLora: loadLoraInto,
        }).pipe(toArray()),
      );
      expect(fs.at(-1)!.type).toBe('done');
      return fs.flatMap((f) => (f.type === 'image' ? [f.png] : []))[0];
    };
    const without = await png([]);
    const withLora = await png([parseLoraFlag(`${join(reference, 'lora.safetensors')}:1`)]);
    const atZero = await png([parseLoraFlag(`${join(reference, 'lora.safetensors')}:0`)]);
    expect(withLora).not.toEqual(without);
    expect(atZero).toEqual(without); // scale 0 merges W + 0·B·A = W exactly
  });

  test('generate refuses a LoRA file with a key of no layer of the UNet, naming the key', async () => {
    const f = readSafetensors(file(reference, 'lora.safetensors'));
    const odd = outDir();
    const bytes = file(reference, 'lora.safetensors');
    // Rename one key in place (same length) so it names no layer.
    const key = f.tensors[0].name;
    const wrong = key.replace('lora_unet_', 'lora_unet_X').slice(0, key.length);
    const text = Buffer.from(bytes).toString('latin1').replace(key, wrong);
    writeFileSync(join(odd, 'bad.safetensors'), Buffer.from(text, 'latin1'));
    await expect(loadLoraInto(tiny, [{ file: join(odd, 'bad.safetensors'), scale: 1 }])).rejects.toMatchObject({
      code: 'bad_embedding',
      details: { key: wrong },
    });
  });
});

describe('pivotal tuning as an eval method', () => {
  test('learnPivotal trains with eval settings and pivotalModel draws with the word and the LoRA', async () => {
    const cfg = {
      model: 'tiny',
      concepts: [],
      samples: 1,
      tiSteps: 2,
      vectors: [1],
      ddimSteps: 2,
      guidance: 5,
      lr: 0.005,
      seed: 0,
      out: outDir(),
      device: 'cpu' as const,
    };
    const learned = await learnPivotal(deps, cfg, 'disc', images, 'circle', 1, { rank: 2, fraction: 1 });
    expect(learned.token).toBe('<disc>');
    expect(learned.embedding.endsWith('learned_embeds.safetensors')).toBe(true);
    expect(learned.lora.endsWith('lora.safetensors')).toBe(true);
    const model = await pivotalModel(tiny, learned, { withEmbeddings: loadEmbeddingsInto, withLora: loadLoraInto });
    const image = await drawPrompt(model, cfg, 'a photo of a <disc>', 0);
    expect([image.width, image.height]).toEqual([tiny.info.resolution, tiny.info.resolution]);
    await model.release();
  });
});

describe('pivotal tuning on the torch-made SD1 folder', () => {
  test('trains three steps with the LoRA throughout, finite losses, and writes a LoRA generation loads', async () => {
    const dir = join(import.meta.dir, 'fixtures', 'torch-sd', 'folder');
    const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);
    const out = outDir();
    const fs = await lastValueFrom(
      runTrain(parseTrainRequest({ ...base, steps: 3, saveEvery: 0, out, lora: { rank: 2, fraction: 1, lr: 0.01 } }), {
        ...deps,
        openModel: async () => model,
      }).pipe(toArray()),
    );
    expect(lossSteps(fs)).toEqual([1, 2, 3]);
    for (const f of fs) if (f.type === 'loss') expect(Number.isFinite(f.loss) && f.gradNorm > 0).toBe(true);
    expect(existsSync(join(out, 'lora.safetensors'))).toBe(true);
    expect(ups(file(out, 'lora.safetensors')).every((b) => b.some((v) => v !== 0))).toBe(true);
    const withLora = await loadLoraInto(model, [{ file: join(out, 'lora.safetensors'), scale: 1 }]);
    expect(await withLora.session('unet')).toBeDefined();
    await withLora.release();
  });
});
