import { describe, expect, it } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { openModel } from '../../adapters/open-model.ts';
import type { FrameOf } from '../../common/frames.ts';
import { runGenerate } from '../generate.ts';
import { rgbaToTensor, type RgbaImage } from '../../common/image/image.ts';
import { decodePng, encodePng } from '../../common/image/png.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import { tensor } from '../../common/tensor.ts';
import { runVaeDecoder, runVaeEncoder, toRgba } from '../../weights/vae-io.ts';
import type { ImageItem, LatentItem } from '../../common/stream-items.ts';
import { contextOn, runToEnd } from './test-helpers.ts';

const ctx = contextOn(openModel);
const prompt = 'a watercolor painting of a red star';
const card: RgbaImage = (() => {
  const data = new Uint8Array(64 * 64 * 4);
  for (let p = 0; p < 64 * 64; p++) data.set([(p % 64) * 4, (p >> 6) * 4, 128, 255], p * 4);
  return { width: 64, height: 64, channels: 4, data };
})();
const files = async () => [{ index: 0, name: 'card.png', bytes: await encodePng(card) }];
const sdedit = (strength: number, steps = 10, sampler?: string, denoiseSampler = sampler) => ({
  stages: [
    { use: 'decode-image' },
    { use: 'vae-encode' },
    { use: 'noise-to-strength', with: { strength, steps, seed: 0, sampler } },
    { use: 'denoise', with: { prompt, sampler: denoiseSampler } },
    { use: 'vae-decode' },
  ],
});

// ᾱ_t re-derived from the scheduler's definition (scaled_linear: β = linspace(√0.00085, √0.012, 1000)²), in float64.
const alphaBar = (t: number) => {
  let a = 1;
  for (let i = 0; i <= t; i++) a *= 1 - (Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2;
  return a;
};

describe('image-to-image (SDEdit) on tiny', () => {
  it('at strength 0 returns the VAE round trip of the input, D(E(x)), to within a float32 rounding of a byte', async () => {
    const [out] = await runToEnd<ImageItem>(sdedit(0), await files(), ctx);
    const model = await openModel('tiny');
    const enc = await runVaeEncoder(await model.session('vae_encoder'), rgbaToTensor(card));
    const h = 64 / model.info.vaeScale;
    const z = tensor('float32', [1, 4, h, h], enc.value.data.slice(0, 4 * h * h));
    const round = toRgba(await runVaeDecoder(await model.session('vae_decoder'), z));
    expect([out.image.width, out.image.height]).toEqual([64, 64]);
    // The pipeline carries z·s between stages and divides by s again, which may move a value by one ulp.
    const diff = Array.from(out.image.data, (v, i) => Math.abs(v - round.data[i]));
    expect(Math.max(...diff)).toBeLessThanOrEqual(1);
    expect(diff.filter((d) => d > 0).length).toBeLessThan(diff.length / 1000);
  });

  it('at strength 1 equals a plain generation with the same prompt, seed and steps', async () => {
    const [out] = await runToEnd<ImageItem>(sdedit(1), await files(), ctx);
    const frames = await lastValueFrom(
      runGenerate(parseGenerateRequest({ prompt, steps: 10, seed: 0 }), { openModel }).pipe(toArray()),
    );
    const image = frames.find((f): f is FrameOf<'image'> => f.type === 'image')!;
    expect(Array.from(out.image.data)).toEqual(Array.from((await decodePng(image.png)).data));
  });

  it('at strength 0.5 of 10 steps noises to t = 401 and leaves the five timesteps 401 … 1 to run', async () => {
    const noise = {
      stages: [
        { use: 'decode-image' },
        { use: 'vae-encode' },
        { use: 'noise-to-strength', with: { strength: 0.5, steps: 10, seed: 7 } },
      ],
    };
    const clean = await runToEnd<LatentItem>({ stages: noise.stages.slice(0, 2) }, await files(), ctx);
    const [noised] = await runToEnd<LatentItem>(noise, await files(), ctx);
    // "leading" spacing with steps_offset 1: 901, 801, …, 1; the last ⌊10 · 0.5⌋ remain.
    expect(noised.remaining).toEqual([401, 301, 201, 101, 1]);
    expect([noised.timestep, noised.steps, noised.seed]).toEqual([401, 10, 7]);
    const eps = createRng(7).fork('initial-noise').fillNormal(new Float32Array(noised.latents.data.length));
    expect(noised.latents.data.length).toBe(clean[0].latents.data.length);
    const a = alphaBar(401);
    noised.latents.data.forEach((v, i) =>
      expect(v).toBeCloseTo(Math.sqrt(a) * clean[0].latents.data[i] + Math.sqrt(1 - a) * eps[i], 4),
    );
  });

  it('at strength 1 with euler equals a plain generation with euler', async () => {
    const [out] = await runToEnd<ImageItem>(sdedit(1, 6, 'euler'), await files(), ctx);
    const frames = await lastValueFrom(
      runGenerate(parseGenerateRequest({ prompt, steps: 6, seed: 0, sampler: 'euler' }), { openModel }).pipe(toArray()),
    );
    const image = frames.find((f): f is FrameOf<'image'> => f.type === 'image')!;
    expect(Array.from(out.image.data)).toEqual(Array.from((await decodePng(image.png)).data));
  });

  it('with dpm++2m noises to the σ of its own schedule: α·z₀ + σα·ε at t = 451, α = 1/√(σ² + 1)', async () => {
    const stages = (sampler: string) => [
      { use: 'decode-image' },
      { use: 'vae-encode' },
      { use: 'noise-to-strength', with: { strength: 0.5, steps: 10, seed: 7, sampler } },
    ];
    const [clean] = await runToEnd<LatentItem>({ stages: stages('dpm++2m').slice(0, 2) }, await files(), ctx);
    const [noised] = await runToEnd<LatentItem>({ stages: stages('dpm++2m') }, await files(), ctx);
    // DPM-Solver's leading spacing lays out 11 points ⌊1000/11⌋ = 90 apart, + steps_offset 1: 901, 811, …, 91; the
    // last five remain. σ² = (1 − ᾱ)/ᾱ, so α = √ᾱ and σα = √(1 − ᾱ): the same VP latent DDIM would make at t = 451.
    expect(noised.remaining).toEqual([451, 361, 271, 181, 91]);
    const eps = createRng(7).fork('initial-noise').fillNormal(new Float32Array(noised.latents.data.length));
    const a = alphaBar(451);
    noised.latents.data.forEach((v, i) =>
      expect(v).toBeCloseTo(Math.sqrt(a) * clean.latents.data[i] + Math.sqrt(1 - a) * eps[i], 4),
    );
    const [out] = await runToEnd<ImageItem>(sdedit(0.5, 10, 'dpm++2m'), await files(), ctx);
    expect([out.image.width, out.image.height]).toEqual([64, 64]);
  });

  it('refuses to denoise a latent noised for another sampler, naming both stages', async () => {
    await expect(runToEnd<ImageItem>(sdedit(0.5, 10, 'ddim', 'dpm++2m'), await files(), ctx)).rejects.toThrow(
      /noise-to-strength and denoise must use the same sampler/,
    );
  });
});
