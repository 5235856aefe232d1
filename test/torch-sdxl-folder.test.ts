/**
 * An SDXL folder in the Optimum layout whose graphs were exported by torch.onnx, not by pseudoword, checked against
 * torch's own values for it (test/fixtures/torch-sdxl/make_folder.py writes both; reference.json holds the values,
 * computed in float64 from the exported float32 weights). Tolerance: rel-L2 ≤ 1e-5 — float32 onnxruntime against
 * float64 torch of the same weights; a wrong rule (another hidden state, pooling position, pad token or order)
 * is off by far more than that.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { last, lastValueFrom, map, of } from 'rxjs';
import { diskModelFiles } from '../adapters/fs.ts';
import { run as generateCommand } from '../adapters/cli/commands/generate.ts';
import { run as inspectCommand } from '../adapters/cli/commands/inspect.ts';
import { loadEmbeddingsInto } from '../adapters/load-embeddings.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { decodePng, encodePng } from '../common/image/png.ts';
import type { Conditioned, GenerateJob } from '../common/generate-state.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { tensor } from '../common/tensor.ts';
import { samplerForScheduler } from '../common/sampler-names.ts';
import { samplerStages } from '../pipeline/sampler-stages.ts';
import { textConditioning } from '../pipeline/text-conditioning.ts';
import { denoiseStage } from '../pipeline/stream-pipelines/diffusion-stages.ts';
import { contextOn, runToEnd } from '../pipeline/stream-pipelines/test-helpers.ts';
import type { ImageItem } from '../common/stream-items.ts';
import { denoise } from '../stages/denoise.ts';
import { initialNoise } from '../stages/initial-noise.ts';
import { predictNoise } from '../stages/predict-noise.ts';
import { writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { openModelFolder, type SdModel } from '../weights/model-folder.ts';
import { runUnet } from '../weights/unet-io.ts';
import { captureOutput } from './support/capture-output.ts';
import { relL2 } from './support/rel-l2.ts';

const root = join(import.meta.dir, 'fixtures', 'torch-sdxl');
const dir = join(root, 'folder');
const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);

interface Stored {
  dims: number[];
  data: number[];
}
const ref = JSON.parse(readFileSync(join(root, 'reference.json'), 'utf8')) as {
  generation: {
    prompt: string;
    input_ids: number[];
    input_ids_2: number[];
    context: Stored;
    pooled: Stored;
    unet: { sample: Stored; timestep: number[]; time_ids: number[]; out_sample: Stored };
    euler: {
      prompt: string;
      negative_prompt: string;
      steps: number;
      guidance: number;
      timesteps: number[];
      init_noise_sigma: number;
      x_T: Stored;
      final: Stored;
    };
  };
  inversion: {
    placeholder_id: number;
    input_ids: number[][];
    input_ids_2: number[][];
    clip_l: Stored;
    clip_g: Stored;
    context_0: Stored;
    pooled_0: Stored;
  };
};
const f32 = (s: Stored) => tensor('float32', s.dims, Float32Array.from(s.data));

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'pseudoword-torch-sdxl-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The generate pipeline's text branch for one prompt (negative prompt 'blurry', so both rows are encoded). */
const conditioned = async (m: SdModel, prompt: string): Promise<Conditioned> => {
  const request = parseGenerateRequest({ prompt, negativePrompt: 'blurry', steps: 1 });
  const job: GenerateJob = { runId: 'r', request, width: 64, height: 64, startedAt: 0 };
  return lastValueFrom(of(job).pipe(await textConditioning(m, await m.session('text_encoder'))));
};

/** An SDXL embedding file with torch's placeholder vectors, its token the file name. */
const embeddingFile = () => {
  const path = join(tmp(), 'pwsdxl.safetensors');
  const { clip_l, clip_g } = ref.inversion;
  const bytes = writeEmbedding({
    token: 'pwsdxl',
    vectors: Float32Array.from(clip_l.data),
    count: 1,
    dim: clip_l.dims[1],
    clipG: { vectors: Float32Array.from(clip_g.data), dim: clip_g.dims[1] },
  });
  writeFileSync(path, bytes);
  return path;
};

describe('a torch.onnx-exported SDXL folder in the Optimum layout', () => {
  test("is read from its configs: two widths and depths, projection, pooling rule, pad tokens, force_zeros, the VAE's scale", async () => {
    expect(model.info).toMatchObject({ family: 'sdxl', resolution: 64, latentChannels: 4, scalingFactor: 0.13025 });
    expect(model.info.sdxl).toEqual({
      textWidths: [32, 48],
      textLayers: [2, 3],
      contextOutputs: ['hidden_states.1', 'hidden_states.2'],
      pooledWidth: 40,
      pooledOutput: 'text_embeds',
      timeEmbedDim: 8,
      forceZerosForEmptyPrompt: false,
      pooling: 'argmax',
    });
    const { out } = await captureOutput(() => inspectCommand([dir, '--json']));
    expect(JSON.parse(out).sdxl.padTokens).toEqual(['<|endoftext|>', '!']);
    const text = await captureOutput(() => inspectCommand([dir]));
    expect(text.out).toStartWith(
      [
        'SDXL: context 80 = text_encoder 32 wide (2 layers, from hidden_states.1) + text_encoder_2 48 wide (3 layers, from hidden_states.2)',
        "  pooled: text_embeds 40 wide, pooled at argmax(input_ids) (the config's legacy eos_token_id 2); time ids 6 × 8",
        '  pad tokens: tokenizer "<|endoftext|>", tokenizer_2 "!"; empty negative prompt: encoded',
      ].join('\n'),
    );
  });

  test("tokenizes the prompt as torch's CLIPTokenizer rows: <|endoftext|> padding for tokenizer, '!' for tokenizer_2", () => {
    const g = ref.generation;
    expect(model.tokenizer.tokenize(g.prompt).ids).toEqual(g.input_ids);
    expect(model.tokenizer2!.tokenize(g.prompt).ids).toEqual(g.input_ids_2);
  });

  test("conditions on both penultimate hidden states joined and text_encoder_2's pooled projection, as torch (rel-L2 ≤ 1e-5)", async () => {
    const c = await conditioned(model, ref.generation.prompt);
    expect(c.cond.dims).toEqual(ref.generation.context.dims);
    expect(c.added!.pooled.dims).toEqual(ref.generation.pooled.dims);
    expect(relL2(c.cond.data as Float32Array, ref.generation.context.data)).toBeLessThanOrEqual(1e-5);
    expect(relL2(c.added!.pooled.data as Float32Array, ref.generation.pooled.data)).toBeLessThanOrEqual(1e-5);
  });

  test('runs the UNet with text_embeds and time_ids as torch does (rel-L2 ≤ 1e-5)', async () => {
    const u = ref.generation.unet;
    const out = await runUnet(await model.session('unet'), f32(u.sample), u.timestep[0], f32(ref.generation.context), {
      textEmbeds: f32(ref.generation.pooled),
      timeIds: tensor('float32', [1, 6], Float32Array.from(u.time_ids)),
    });
    expect(out.dims).toEqual(u.out_sample.dims);
    expect(relL2(out.data as Float32Array, u.out_sample.data)).toBeLessThanOrEqual(1e-5);
  });

  test("with a {clip_l, clip_g} file loaded, conditions as torch with both tables extended by the file's rows, pooled at the new token", async () => {
    const withEmbedding = await loadEmbeddingsInto(model, [embeddingFile()]);
    try {
      const prompt = 'a photo of pwsdxl';
      const inv = ref.inversion;
      expect(withEmbedding.tokenizer.tokenize(prompt).ids).toEqual(inv.input_ids[0]);
      expect(withEmbedding.tokenizer2!.tokenize(prompt).ids).toEqual(inv.input_ids_2[0]);
      expect(inv.input_ids[0]).toContain(inv.placeholder_id);
      const c = await conditioned(withEmbedding, prompt);
      expect(relL2(c.cond.data as Float32Array, inv.context_0.data)).toBeLessThanOrEqual(1e-5);
      expect(relL2(c.added!.pooled.data as Float32Array, inv.pooled_0.data)).toBeLessThanOrEqual(1e-5);
    } finally {
      await withEmbedding.release();
    }
  });

  test("denoises as StableDiffusionXLPipeline with the folder's Euler: 3 steps, CFG 5, the empty negative prompt encoded (rel-L2 ≤ 1e-5)", async () => {
    const e = ref.generation.euler;
    const request = parseGenerateRequest({
      prompt: e.prompt,
      negativePrompt: e.negative_prompt,
      steps: e.steps,
      guidance: e.guidance,
    });
    const job: GenerateJob = { runId: 'r', request, width: 64, height: 64, startedAt: 0 };
    // generateOperator's stages with the folder's sampler; only the draw of x_T is replaced by torch's.
    const sampler = samplerStages(samplerForScheduler(model.scheduler), model.scheduler);
    expect(sampler.timesteps(e.steps)).toEqual(e.timesteps);
    const scale = sampler.initScale?.(e.steps) ?? 1;
    const xT = f32(e.x_T);
    const final = await lastValueFrom(
      of(job).pipe(
        await textConditioning(model, await model.session('text_encoder')),
        initialNoise({ channels: 4, vaeScale: 8, timesteps: sampler.timesteps, scale: sampler.initScale }),
        map((s) => ({
          ...s,
          latents: tensor(
            'float32',
            xT.dims,
            xT.data.map((v) => v * scale),
          ),
        })),
        denoise(predictNoise(await model.session('unet')), sampler.update),
        last(),
      ),
    );
    expect(final.step).toBe(e.steps);
    expect(relL2(final.latents.data as Float32Array, e.final.data)).toBeLessThanOrEqual(1e-5);
  });

  test("image-to-image's denoise stage runs the SDXL conditioning too: torch's x_T with every timestep left ends where torch's loop does", async () => {
    const e = ref.generation.euler;
    const ctx = contextOn(async () => model);
    const settings = denoiseStage.settings.parse({
      prompt: e.prompt,
      negativePrompt: e.negative_prompt,
      guidance: e.guidance,
    });
    const scale = samplerStages(samplerForScheduler(model.scheduler), model.scheduler).initScale?.(e.steps) ?? 1;
    const xT = f32(e.x_T);
    const item = {
      index: 0,
      name: 'x_T',
      latents: tensor(
        'float32',
        xT.dims,
        xT.data.map((v) => v * scale),
      ),
      timestep: e.timesteps[0],
      remaining: e.timesteps,
      steps: e.steps,
    };
    const out = await lastValueFrom(of(item).pipe(await denoiseStage.create(settings, ctx)));
    expect(relL2(out.latents.data as Float32Array, e.final.data)).toBeLessThanOrEqual(1e-5);
    // And a whole SDEdit run on the folder: VAE encoder (latent_parameters), noise, denoise, decoder.
    const card = { width: 64, height: 64, channels: 4 as const, data: new Uint8Array(64 * 64 * 4).fill(200) };
    const [img] = await runToEnd<ImageItem>(
      {
        stages: [
          { use: 'decode-image' },
          { use: 'vae-encode' },
          { use: 'noise-to-strength', with: { strength: 0.5, steps: 4, seed: 0 } },
          { use: 'denoise', with: { prompt: e.prompt } },
          { use: 'vae-decode' },
        ],
      },
      [{ index: 0, name: 'card.png', bytes: await encodePng(card) }],
      ctx,
    );
    expect([img.image.width, img.image.height]).toEqual([64, 64]);
  });

  test('pseudoword generate --model <folder> --embeddings <clip_l/clip_g file> writes a 64×64 image that the token changes', async () => {
    const file = embeddingFile();
    const draw = async (prompt: string) => {
      const out = join(tmp(), 'xl.png');
      await captureOutput(() =>
        generateCommand(['--model', dir, '--embeddings', file, '--prompt', prompt, '--steps', '2', '--out', out]),
      );
      return readFileSync(out);
    };
    const withToken = await draw('a photo of pwsdxl');
    const png = await decodePng(withToken);
    expect([png.width, png.height]).toEqual([64, 64]);
    const without = await decodePng(await draw('a photo of circle'));
    expect(Array.from(without.data)).not.toEqual(Array.from(png.data));
  });
});
