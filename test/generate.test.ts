import { describe, expect, test } from 'bun:test';
import { lastValueFrom, take, tap, toArray } from 'rxjs';
import { openModel } from '../adapters/open-model.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { decodePng } from '../common/image/png.ts';
import { createDdim } from '../common/numerics/ddim.ts';
import { createRng } from '../common/numerics/rng.ts';
import { runTextEncoder, concatBatch, splitBatch } from '../weights/text-encoder-io.ts';
import { runUnet } from '../weights/unet-io.ts';
import { tensorFromWire, type Frame } from '../common/frames.ts';
import { tensor } from '../common/tensor.ts';
import type { SdModel } from '../weights/model-folder.ts';

const model = await openModel('tiny');
const deps = { openModel: async () => model };
const request = (o: Record<string, unknown> = {}) =>
  parseGenerateRequest({ prompt: 'a photo of a red star', steps: 4, seed: 3, ...o });
const frames = (o: Record<string, unknown> = {}, desc: unknown = {}) =>
  lastValueFrom(runGenerate(request(o), deps, desc).pipe(toArray()));

describe('generation on tiny', () => {
  test('streams progress, latents and previews step by step, then the image, then done', async () => {
    const fs = await frames();
    const kinds = fs.map((f) => f.type);
    expect(kinds.at(-1)).toBe('done');
    expect(kinds.filter((k) => k === 'image')).toHaveLength(1);
    expect(fs[0]).toMatchObject({ type: 'progress', phase: 'load', step: 0 });
    expect(fs.filter((f) => f.type === 'progress' && f.phase === 'denoise').map((f) => (f as any).step)).toEqual([
      1, 2, 3, 4,
    ]);
    expect(fs.filter((f) => f.type === 'latent').map((f) => (f as any).step)).toEqual([1, 2, 3, 4]);
    expect(fs.filter((f) => f.type === 'preview').map((f) => (f as any).step)).toEqual([1, 2, 3, 4]);
    // The image comes after the last step's latent.
    expect(kinds.indexOf('image')).toBeGreaterThan(kinds.lastIndexOf('latent'));
    const img = fs.find((f) => f.type === 'image') as Extract<Frame, { type: 'image' }>;
    const png = await decodePng(img.png);
    expect([png.width, png.height]).toEqual([model.info.resolution, model.info.resolution]);
  });

  test('reproduces a bare loop over the same sessions and DDIM numerics', async () => {
    const fs = await frames({ steps: 5 });
    const last = fs.filter((f) => f.type === 'latent').at(-1) as Extract<Frame, { type: 'latent' }>;
    // Independent composition: tokenizer → encoder → seeded noise → 5 × (CFG UNet, DDIM step).
    const [te, unet] = await Promise.all([model.session('text_encoder'), model.session('unet')]);
    const ddim = createDdim(model.scheduler);
    const [cond, uncond] = await runTextEncoder(te, [
      model.tokenizer.tokenize('a photo of a red star').ids,
      model.tokenizer.tokenize('').ids,
    ]);
    const h = model.info.resolution / model.info.vaeScale;
    const dims = [1, model.info.latentChannels, h, h];
    let x = createRng(3)
      .fork('initial-noise')
      .fillNormal(new Float32Array(dims.reduce((a, b) => a * b)));
    for (const t of ddim.timesteps(5)) {
      const xt = tensor('float32', dims, x);
      const [pu, pc] = splitBatch(await runUnet(unet, concatBatch([xt, xt]), t, concatBatch([uncond, cond])));
      x = ddim.step({
        modelOutput: pu.data.map((u, i) => u + 7.5 * (pc.data[i] - u)),
        timestep: t,
        sample: x,
        numSteps: 5,
      }).prevSample;
    }
    const got = tensorFromWire(last.tensor).data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - x[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  test('gives the same image for the same seed and a different one for another seed', async () => {
    const pixels = async (seed: number) => {
      const img = (await frames({ seed, steps: 3 })).find((f) => f.type === 'image') as Extract<
        Frame,
        { type: 'image' }
      >;
      return (await decodePng(img.png)).data;
    };
    const a = await pixels(1);
    expect(await pixels(1)).toEqual(a);
    expect(await pixels(2)).not.toEqual(a);
  });

  test('swaps the preview stage from the pipeline description alone', async () => {
    const none = await frames({}, { preview: { use: 'none' } });
    expect(none.filter((f) => f.type === 'preview')).toHaveLength(0);
    const vae = await frames({ steps: 4 }, { preview: { use: 'vae', every: 2 }, latentFrames: false });
    const previews = vae.filter((f) => f.type === 'preview') as Extract<Frame, { type: 'preview' }>[];
    // VAE previews are full size and come every 2nd step; the latent-rgb ones are one pixel per latent cell.
    expect(previews.map((p) => [p.step, p.width])).toEqual([
      [2, model.info.resolution],
      [4, model.info.resolution],
    ]);
    expect(vae.filter((f) => f.type === 'latent')).toHaveLength(0);
    const rgb = (await frames({ steps: 1 })).find((f) => f.type === 'preview') as Extract<Frame, { type: 'preview' }>;
    expect(rgb.width).toBe(model.info.resolution / model.info.vaeScale);
  });

  test('stops running the UNet once the consumer unsubscribes', async () => {
    let unetRuns = 0;
    const unet = await model.session('unet');
    const counting: SdModel = {
      ...model,
      session: async (c) =>
        c === 'unet' ? { ...unet, run: (f, o) => (unetRuns++, unet.run(f, o)) } : model.session(c),
    };
    await lastValueFrom(
      runGenerate(request({ steps: 30 }), { openModel: async () => counting }).pipe(
        tap(() => {}),
        take(4), // the load frame, then progress, latent and preview of step 1 … then unsubscribe
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(unetRuns).toBeLessThanOrEqual(3);
  });

  test('refuses a size that is not a multiple of 8 with a bad_request naming the field', () => {
    expect(() => request({ width: 60 })).toThrow('width: must be a multiple of 8');
  });
});
