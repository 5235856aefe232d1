import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as generateCommand } from '../adapters/cli/commands/generate.ts';
import { run as inspectCommand } from '../adapters/cli/commands/inspect.ts';
import { serverApp } from '../adapters/server-app.ts';
import { decodePng } from '../common/image/png.ts';
import { decodeFrames } from '../pipeline/wire/msgpack-stream.ts';
import { lastValueFrom, of, toArray } from 'rxjs';
import { openModel } from '../adapters/open-model.ts';
import { tensorFromWire, type Frame } from '../common/frames.ts';
import type { Conditioned, GenerateJob } from '../common/generate-state.ts';
import { createDdim } from '../common/numerics/ddim.ts';
import { createRng } from '../common/numerics/rng.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { textConditioning } from '../pipeline/text-conditioning.ts';
import type { SdModel } from '../weights/model-folder.ts';

const model = await openModel('tiny-xl');
const sdxl = model.info.sdxl!;
const request = (o: Record<string, unknown> = {}) =>
  parseGenerateRequest({ model: 'tiny-xl', prompt: 'a red star', steps: 3, seed: 5, sampler: 'ddim', ...o });
const frames = (o: Record<string, unknown> = {}, m: SdModel = model) =>
  lastValueFrom(runGenerate(request(o), { openModel: async () => m }).pipe(toArray()));
const lastLatent = (fs: Frame[]) =>
  tensorFromWire((fs.filter((f) => f.type === 'latent').at(-1) as Extract<Frame, { type: 'latent' }>).tensor)
    .data as Float32Array;
const conditioned = async (o: Record<string, unknown> = {}, m: SdModel = model): Promise<Conditioned> => {
  const job: GenerateJob = { runId: 'r', request: request(o), width: 64, height: 64, startedAt: 0 };
  return lastValueFrom(of(job).pipe(await textConditioning(m, await m.session('text_encoder'))));
};
const f32 = (t: Tensor) => Array.from(t.data as Float32Array);
const allZero = (t: Tensor) => f32(t).every((v) => v === 0);

describe('generation on tiny-xl, the embedded SDXL-structured model', () => {
  test('reproduces a bare loop: both penultimate states joined, zeros for the empty negative prompt, time ids of the image', async () => {
    const fs = await frames({ guidance: 5 });
    expect(fs.at(-1)?.type).toBe('done');
    expect(fs.filter((f) => f.type === 'image')).toHaveLength(1);
    // Independent composition over the raw sessions, with every SDXL rule written out here.
    const [e1, e2, unet] = await Promise.all([
      model.session('text_encoder'),
      model.session('text_encoder_2'),
      model.session('unet'),
    ]);
    const ids = (tok: { tokenize(t: string): { ids: number[] } }) =>
      tensor('int32', [1, 77], Int32Array.from(tok.tokenize('a red star').ids));
    const h1 = (await e1.run({ input_ids: ids(model.tokenizer) }))['hidden_states.1'].data as Float32Array;
    const o2 = await e2.run({ input_ids: ids(model.tokenizer2!) });
    const h2 = o2['hidden_states.2'].data as Float32Array;
    const context = new Float32Array(77 * 96);
    for (let t = 0; t < 77; t++) {
      context.set(h1.subarray(t * 32, (t + 1) * 32), t * 96);
      context.set(h2.subarray(t * 64, (t + 1) * 64), t * 96 + 32);
    }
    const pooled = o2.text_embeds.data as Float32Array;
    const ehs = new Float32Array(2 * 77 * 96);
    ehs.set(context, 77 * 96); // [zeros; context]
    const textEmbeds = new Float32Array(2 * 48);
    textEmbeds.set(pooled, 48);
    const timeIds = Float32Array.from([64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64]);
    const ddim = createDdim(model.scheduler);
    const dims = [1, 4, 8, 8];
    let x = createRng(5).fork('initial-noise').fillNormal(new Float32Array(256));
    for (const t of ddim.timesteps(3)) {
      const both = new Float32Array(512);
      both.set(x);
      both.set(x, 256);
      const out = await unet.run({
        sample: tensor('float32', [2, 4, 8, 8], both),
        timestep: tensor('float32', [1], Float32Array.of(t)),
        encoder_hidden_states: tensor('float32', [2, 77, 96], ehs),
        text_embeds: tensor('float32', [2, 48], textEmbeds),
        time_ids: tensor('float32', [2, 6], timeIds),
      });
      const p = out.out_sample.data as Float32Array;
      const guided = Float32Array.from({ length: 256 }, (_, i) => p[i] + 5 * (p[256 + i] - p[i]));
      x = ddim.step({ modelOutput: guided, timestep: t, sample: x, numSteps: 3 }).prevSample;
    }
    const got = lastLatent(fs);
    expect(got.length).toBe(dims.reduce((a, b) => a * b));
    let maxDiff = 0;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - x[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  test('zeros an empty negative prompt when the folder says so, and encodes it when it does not', async () => {
    const zeroed = await conditioned();
    expect(allZero(zeroed.uncond) && allZero(zeroed.added!.uncondPooled)).toBe(true);
    expect(allZero(zeroed.cond)).toBe(false);
    const encoded = await conditioned(
      {},
      { ...model, info: { ...model.info, sdxl: { ...sdxl, forceZerosForEmptyPrompt: false } } },
    );
    expect(allZero(encoded.uncond) || allZero(encoded.added!.uncondPooled)).toBe(false);
    // The empty prompt encoded is BOS, EOS and padding — not the prompt.
    expect(f32(encoded.added!.uncondPooled)).not.toEqual(f32(encoded.added!.pooled));
    const negative = await conditioned({ negativePrompt: 'blurry' });
    expect(allZero(negative.uncond)).toBe(false);
    expect(f32(negative.uncond)).not.toEqual(f32(encoded.uncond));
    expect(f32(negative.cond)).toEqual(f32(zeroed.cond));
  });

  test("takes the time ids from the request, in diffusers' (height, width) / (top, left) order", async () => {
    const c = await conditioned({
      originalSize: { width: 1024, height: 768 },
      crop: { left: 16, top: 8 },
      targetSize: { width: 512, height: 256 },
    });
    expect(c.added!.timeIds.dims).toEqual([1, 6]);
    expect(f32(c.added!.timeIds)).toEqual([768, 1024, 8, 16, 256, 512]);
    expect(f32((await conditioned()).added!.timeIds)).toEqual([64, 64, 0, 0, 64, 64]);
    const plain = lastLatent(await frames({ steps: 2 }));
    const moved = lastLatent(await frames({ steps: 2, originalSize: { width: 1024, height: 768 } }));
    expect(Array.from(moved)).not.toEqual(Array.from(plain));
  });

  test('runs guidance 1 as one conditional run per step, its pooled prompt and time ids a batch of one', async () => {
    const unet = await model.session('unet');
    const seen: number[][] = [];
    const watching: SdModel = {
      ...model,
      session: async (c) =>
        c === 'unet'
          ? {
              ...unet,
              run: (f, o) => (seen.push([f.sample.dims[0], ...f.text_embeds.dims, ...f.time_ids.dims]), unet.run(f, o)),
            }
          : model.session(c),
    };
    expect((await frames({ guidance: 1, steps: 2 }, watching)).at(-1)?.type).toBe('done');
    expect(seen).toEqual([
      [1, 1, 48, 1, 6],
      [1, 1, 48, 1, 6],
    ]);
  });

  test('refuses micro-conditioning on a model without it, naming the fields', async () => {
    const tiny = await openModel('tiny');
    const fs = await lastValueFrom(
      runGenerate(parseGenerateRequest({ prompt: 'a red star', steps: 1, crop: { left: 0, top: 0 } }), {
        openModel: async () => tiny,
      }).pipe(toArray()),
    ).catch((e) => [e]);
    const err = fs.at(-1) as { code?: string; message?: string; type?: string };
    const message = err.message ?? '';
    expect(message).toContain('crop');
    expect(message).toContain('only SDXL models');
  });
});

describe('tiny-xl from the edges', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'pseudoword-xl-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('POST /v1/generate draws with model tiny-xl, no folder allowed, micro-conditioning in the body', async () => {
    const base = tmp();
    const { app, close } = await serverApp({
      host: '127.0.0.1',
      imageRoots: [base],
      outRoot: join(base, 'runs'),
      modelRoots: [],
      uploadRoot: tmp(),
      maxUploadBytes: 2 ** 20,
    });
    try {
      const res = await app.request('/v1/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'tiny-xl',
          prompt: 'a red star',
          negativePrompt: 'blurry',
          steps: 2,
          originalSize: { width: 128, height: 128 },
          crop: { left: 4, top: 4 },
        }),
      });
      expect(res.status).toBe(200);
      const got: Frame[] = [];
      for await (const f of decodeFrames(res.body!)) got.push(f as Frame);
      expect(got.at(-1)?.type).toBe('done');
      const img = got.find((f) => f.type === 'image') as Extract<Frame, { type: 'image' }>;
      expect([(await decodePng(img.png)).width]).toEqual([64]);
      // The run's listing keeps the micro-conditioning with the other settings that decide the picture.
      const listed = await (await app.request(`/v1/runs/${res.headers.get('x-run-id')}`)).json();
      expect(listed.meta).toMatchObject({
        model: 'tiny-xl',
        originalSize: { width: 128, height: 128 },
        crop: { left: 4, top: 4 },
      });
      expect(listed.meta.targetSize).toBeUndefined();
    } finally {
      await close();
    }
  });

  test('pseudoword inspect tiny-xl describes it as SDXL: widths, depths, pooled width and rule, pad tokens, zeros', async () => {
    const printed: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = (t: string | Uint8Array) => (printed.push(String(t)), true);
    try {
      await inspectCommand(['tiny-xl']);
      await inspectCommand(['tiny-xl', '--json']);
    } finally {
      process.stdout.write = write;
    }
    expect(printed[0]).toStartWith(
      [
        'SDXL: context 96 = text_encoder 32 wide (2 layers, from hidden_states.1) + text_encoder_2 64 wide (3 layers, from hidden_states.2)',
        "  pooled: text_embeds 48 wide, pooled at argmax(input_ids) (the config's legacy eos_token_id 2); time ids 6 × 8",
        '  pad tokens: tokenizer "<|endoftext|>", tokenizer_2 "!"; empty negative prompt: zeros (force_zeros_for_empty_prompt)',
      ].join('\n'),
    );
    expect(printed[0]).toContain('text_encoder_2  (opsets');
    const json = JSON.parse(printed[1]);
    expect(json.sdxl.info.textWidths).toEqual([32, 64]);
    expect(json.sdxl.padTokens).toEqual(['<|endoftext|>', '!']);
    expect(json.unet.inputs.map((i: { name: string }) => i.name)).toContain('time_ids');
  });

  test('pseudoword generate --model tiny-xl takes --original-size WxH and --crop left,top', async () => {
    const out = join(tmp(), 'xl.png');
    const write = process.stdout.write;
    process.stdout.write = () => true;
    try {
      await generateCommand([
        ...['--model', 'tiny-xl', '--prompt', 'a red star', '--steps', '2', '--out', out],
        ...['--original-size', '1024x768', '--crop', '0,16', '--target-size', '64x64'],
      ]);
    } finally {
      process.stdout.write = write;
    }
    expect((await decodePng(readFileSync(out))).width).toBe(64);
    await expect(generateCommand(['--model', 'tiny-xl', '--prompt', 'x', '--original-size', '1024'])).rejects.toThrow(
      "--original-size must be WIDTHxHEIGHT in pixels (e.g. 1024x1024), got '1024'",
    );
  });
});
