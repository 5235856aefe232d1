import { describe, expect, it } from 'bun:test';
import { Encoder } from '@msgpack/msgpack';
import { Hono } from 'hono';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openModel } from '../../adapters/open-model.ts';
import { tensorFromWire, type Frame, type FrameOf } from '../../common/frames.ts';
import { rgbaToTensor, type RgbaImage } from '../../common/image/image.ts';
import { encodePng } from '../../common/image/png.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { runVaeEncoder } from '../../weights/vae-io.ts';
import { pipelinesRoutes } from './pipelines-routes.ts';

const root = join(import.meta.dir, '../..');
const example = (name: string) => JSON.parse(readFileSync(join(root, 'examples/pipelines', name), 'utf8'));
const encoder = new Encoder({ ignoreUndefined: true });
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 1));
};

/** A 64×64 test card: a diagonal ramp in red, a horizontal one in green, `k` in blue. */
const card = (k: number): RgbaImage => {
  const data = new Uint8Array(64 * 64 * 4);
  for (let p = 0; p < 64 * 64; p++) data.set([((p % 64) + (p >> 6)) * 2, (p % 64) * 4, k * 60, 255], p * 4);
  return { width: 64, height: 64, channels: 4, data };
};
const imageFrame = async (k: number): Promise<Frame> => ({
  type: 'image',
  runId: 'client',
  index: k,
  width: 64,
  height: 64,
  png: await encodePng(card(k)),
});

/**
 * A request body that sends the description, then one frame per read the server makes (highWaterMark 0: nothing
 * is sent before it is asked for), counting them. `frames(i)` gives frame i or undefined to end.
 */
const bodyOf = (description: unknown, frames: (i: number) => Promise<Frame | undefined>) => {
  const sent = { frames: 0, cancelled: false };
  let first = true;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (first) return ((first = false), c.enqueue(encoder.encode(description)));
        const f = await frames(sent.frames);
        if (!f) return c.close();
        sent.frames++;
        c.enqueue(encoder.encode(f));
      },
      cancel() {
        sent.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { sent, stream };
};

const appWith = (extra: Partial<Parameters<typeof pipelinesRoutes>[1]> = {}) =>
  pipelinesRoutes(new Hono(), { openModel, generate: { openModel }, ...extra });
const post = (app: Hono, body: ReadableStream<Uint8Array> | string, type = 'application/vnd.msgpack') =>
  app.request('/v1/pipelines/run', {
    method: 'POST',
    body,
    headers: { 'content-type': type },
    duplex: 'half',
  } as RequestInit);
const all = async (res: Response) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(res.body!)) out.push(f);
  return out;
};

/** s·mean(E(x)) for a card, straight from the VAE encoder session: what vae-encode must return. */
const expectedLatent = async (k: number) => {
  const model = await openModel('tiny');
  const out = await runVaeEncoder(await model.session('vae_encoder'), rgbaToTensor(card(k)));
  const h = 64 / model.info.vaeScale;
  return Array.from(out.value.data.slice(0, 4 * h * h), (v) => v * model.info.scalingFactor);
};

describe('POST /v1/pipelines/run', () => {
  it('turns a stream of images into latents frame by frame: each latent comes back before the next image is sent', async () => {
    const got: FrameOf<'latent'>[] = [];
    let release: () => void = () => {};
    const { sent, stream } = bodyOf(example('encode-images.json'), async (i) => {
      if (i >= 3) return undefined;
      // Image i is sent only once latent i − 1 has been read: a server that waited for the whole body would hang.
      if (i > 0 && got.length < i) await new Promise<void>((r) => (release = r));
      return imageFrame(i);
    });
    const res = await post(appWith(), stream);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.msgpack');
    const frames: Frame[] = [];
    for await (const f of decodeFrames(res.body!)) {
      frames.push(f);
      if (f.type === 'latent') got.push(f), release();
    }
    expect(frames.map((f) => f.type)).toEqual(['latent', 'latent', 'latent', 'done']);
    expect(got.map((f) => f.step)).toEqual([0, 1, 2]);
    expect(sent.frames).toBe(3);
    for (const [k, f] of got.entries()) {
      const t = tensorFromWire(f.tensor);
      const h = 64 / (await openModel('tiny')).info.vaeScale;
      expect(t.dims).toEqual([1, 4, h, h]);
      const want = await expectedLatent(k);
      Array.from(t.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    }
  });

  it('holds a fast producer back while the client reads slowly', async () => {
    const { sent, stream } = bodyOf(example('encode-images.json'), (i) => imageFrame(i % 4));
    const res = await pipelinesRoutes(new Hono(), { openModel, window: 2, highWater: 2 }).request('/v1/pipelines/run', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/vnd.msgpack' },
      duplex: 'half',
    } as RequestInit);
    const reader = res.body!.getReader();
    const chunks: number[] = [];
    for (let k = 1; k <= 4; k++) {
      chunks.push((await reader.read()).value!.byteLength);
      await settle();
      // k results read; at most 2 waiting, 2 inside the pipeline, 1 being decoded by the msgpack reader.
      expect(sent.frames).toBeLessThanOrEqual(k + 5);
    }
    await reader.cancel();
  });

  it('stops reading the body and running the stages when the client stops reading', async () => {
    const { sent, stream } = bodyOf(example('encode-images.json'), (i) => imageFrame(i % 4));
    const res = await post(appWith(), stream);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    await settle();
    const after = sent.frames;
    await settle();
    expect(sent.frames).toBe(after);
    expect(sent.cancelled).toBe(true);
  });

  it('decodes latent frames back to images (the decode example)', async () => {
    const enc = bodyOf(example('encode-images.json'), async (i) => (i < 2 ? imageFrame(i) : undefined));
    const latents = (await all(await post(appWith(), enc.stream))).filter((f) => f.type === 'latent');
    const dec = bodyOf(example('decode-latents.json'), async (i) => latents[i]);
    const frames = await all(await post(appWith(), dec.stream));
    expect(frames.map((f) => f.type)).toEqual(['image', 'image', 'done']);
    expect(frames.slice(0, 2).map((f) => [(f as FrameOf<'image'>).index, (f as FrameOf<'image'>).width])).toEqual([
      [0, 64],
      [1, 64],
    ]);
  });

  it('runs the image-to-image example, one image frame per input image', async () => {
    const { stream } = bodyOf(example('image-to-image.json'), async (i) => (i < 2 ? imageFrame(i) : undefined));
    const frames = await all(await post(appWith(), stream));
    expect(frames.map((f) => f.type)).toEqual(['image', 'image', 'done']);
  });

  it('runs the generate example from a JSON body, ending with its image and done', async () => {
    const frames = await all(await post(appWith(), JSON.stringify(example('generate.json')), 'application/json'));
    expect(frames.filter((f) => f.type === 'image').map((f) => (f as FrameOf<'image'>).width)).toEqual([64]);
    expect(frames.at(-1)?.type).toBe('done');
  });

  it('runs the train example on streamed images when the host provides training', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-pipeline-train-'));
    const { trainDeps } = await import('../../adapters/train-deps.ts');
    const deps = trainDeps();
    const train = {
      ...deps,
      writeFiles: (_: string, files: Record<string, Uint8Array>) => deps.writeFiles(dir, files),
    };
    const { stream } = bodyOf(example('train.json'), async (i) => (i < 2 ? imageFrame(i) : undefined));
    const frames = await all(await post(appWith({ train }), stream));
    expect(frames.filter((f) => f.type === 'loss').length).toBe(20);
    expect(frames.at(-1)).toMatchObject({ type: 'done', summary: { steps: 20 } });
  });

  it('answers a bad description with a 400 naming the stage and field, before reading any frame', async () => {
    const bad = { stages: [{ use: 'decode-image' }, { use: 'vae-encode', with: { sample: 'mode' } }] };
    const { sent, stream } = bodyOf(bad, (i) => imageFrame(i));
    const res = await post(appWith(), stream);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 'bad_request',
        message: 'stages[1] (vae-encode): with.sample: must be one of "mean", "sample"',
        field: 'stages[1].with.sample',
        details: { stage: 1, use: 'vae-encode' },
      },
    });
    expect(sent.frames).toBe(0);
  });

  it('refuses stages from module paths and training unless the host allows them', async () => {
    const mod = await post(appWith(), JSON.stringify({ stages: [{ use: './mine.ts' }] }), 'application/json');
    expect(((await mod.json()) as { error: { message: string } }).error.message).toBe(
      'stages[0] (./mine.ts): stages from modules cannot be loaded here',
    );
    const train = await post(appWith(), JSON.stringify(example('train.json')), 'application/json');
    expect(train.status).toBe(400);
    expect(((await train.json()) as { error: { message: string } }).error.message).toStartWith(
      'stages[0] (train): train cannot run here',
    );
  });

  it('ends with an error frame naming the problem when an input frame is of the wrong type', async () => {
    const { stream } = bodyOf(example('decode-latents.json'), async (i) => (i < 1 ? imageFrame(0) : undefined));
    const frames = await all(await post(appWith(), stream));
    expect(frames).toEqual([
      expect.objectContaining({
        type: 'error',
        code: 'bad_request',
        message: "input frame 0 is a 'image' frame; this pipeline's first stage takes 'latent' frames",
      }),
    ]);
  });

  it('ends with a bad_request error frame when the body turns into bytes that are not msgpack', async () => {
    const chunks = [encoder.encode(example('encode-images.json')), Uint8Array.of(0xc1, 0xc1, 0xc1)];
    const body = new ReadableStream<Uint8Array>({
      pull: (c) => void (chunks.length ? c.enqueue(chunks.shift()!) : c.close()),
    });
    const frames = await all(await post(appWith(), body));
    expect(frames).toEqual([expect.objectContaining({ type: 'error', code: 'bad_request' })]);
    expect((frames[0] as FrameOf<'error'>).message).toStartWith('an input frame is not valid msgpack');
  });
});

describe('GET /v1/pipelines/stages', () => {
  it('lists every built-in stage with its kinds and settings schema', async () => {
    const stages = (await (await appWith().request('/v1/pipelines/stages')).json()) as {
      name: string;
      input: string;
      output: string;
      settings: { properties?: Record<string, unknown> };
    }[];
    expect(stages.map((s) => s.name)).toEqual([
      'decode-image',
      'vae-encode',
      'vae-decode',
      'noise-to-strength',
      'denoise',
      'generate',
      'train',
    ]);
    const enc = stages.find((s) => s.name === 'vae-encode')!;
    expect([enc.input, enc.output]).toEqual(['image', 'latent']);
    expect(enc.settings.properties?.sample).toMatchObject({ enum: ['mean', 'sample'], default: 'mean' });
  });
});
