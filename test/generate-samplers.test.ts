import { describe, expect, test } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { openModel } from '../adapters/open-model.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { decodePng } from '../common/image/png.ts';
import { createDpmSolver2m } from '../common/numerics/dpm-solver-2m.ts';
import { createEuler } from '../common/numerics/euler.ts';
import { createRng } from '../common/numerics/rng.ts';
import type { Sampler } from '../common/numerics/sampler.ts';
import { parseSchedulerConfig } from '../common/numerics/scheduler-config.ts';
import { runTextEncoder, concatBatch, splitBatch } from '../weights/text-encoder-io.ts';
import { runUnet } from '../weights/unet-io.ts';
import { tensorFromWire, type Frame } from '../common/frames.ts';
import { tensor } from '../common/tensor.ts';
import type { SdModel } from '../weights/model-folder.ts';

const tiny = await openModel('tiny');
// tiny's own folder says DDIMScheduler with leading spacing; the same model under another scheduler file.
const withScheduler = (json: Record<string, unknown>): SdModel => ({
  ...tiny,
  scheduler: parseSchedulerConfig({ ...tiny.scheduler, _class_name: undefined, timestep_spacing: undefined, ...json }),
});
const frames = (o: Record<string, unknown> = {}, model: SdModel = tiny, desc: unknown = {}) =>
  lastValueFrom(
    runGenerate(
      parseGenerateRequest({ prompt: 'a photo of a red star', steps: 4, seed: 3, ...o }),
      { openModel: async () => model },
      desc,
    ).pipe(toArray()),
  );
const of = <K extends Frame['type']>(fs: Frame[], type: K) =>
  fs.filter((f): f is Extract<Frame, { type: K }> => f.type === type);

describe('generation on tiny with each sampler', () => {
  for (const sampler of ['ddim', 'euler', 'euler-a', 'dpm++2m', 'dpm++2m-karras'])
    test(`${sampler} draws a PNG, says which sampler drew it, and draws it again the same for the seed`, async () => {
      const a = await frames({ sampler });
      const [image] = of(a, 'image');
      const png = await decodePng(image.png);
      expect([png.width, png.height]).toEqual([tiny.info.resolution, tiny.info.resolution]);
      expect(of(a, 'done')[0].summary.sampler).toBe(sampler);
      expect(of(a, 'latent').map((f) => f.step)).toEqual([1, 2, 3, 4]);
      const [again] = of(await frames({ sampler }), 'image');
      expect(Buffer.from(again.png).equals(Buffer.from(image.png))).toBe(true);
    });

  test('euler-a draws a different picture for another seed (its noise comes from the seed)', async () => {
    const pixels = async (seed: number) =>
      (await decodePng(of(await frames({ sampler: 'euler-a', seed }), 'image')[0].png)).data;
    expect(Buffer.from(await pixels(1)).equals(Buffer.from(await pixels(2)))).toBe(false);
  });

  test("runs the folder's scheduler class when the request names none, and the request's name over the description's", async () => {
    const done = async (o: Record<string, unknown>, model: SdModel, desc: unknown = {}) =>
      of(await frames({ steps: 2, ...o }, model, desc), 'done')[0].summary.sampler;
    expect(await done({}, tiny)).toBe('ddim');
    expect(await done({}, withScheduler({ _class_name: 'EulerAncestralDiscreteScheduler' }))).toBe('euler-a');
    const karras = withScheduler({ _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true });
    expect(await done({}, karras)).toBe('dpm++2m-karras');
    expect(await done({}, tiny, { sampler: { use: 'euler' } })).toBe('euler');
    expect(await done({ sampler: 'dpm++2m' }, tiny, { sampler: { use: 'euler' } })).toBe('dpm++2m');
  });

  // The same numbers from a bare loop over the sessions and the sampler's own functions: the stage must find the
  // right σ for each step, scale the first latent, feed the UNet fractional timesteps and keep DPM's memory.
  const bareLoop = async (model: SdModel, sampler: Sampler, steps: number) => {
    const [te, unet] = await Promise.all([model.session('text_encoder'), model.session('unet')]);
    const [cond, uncond] = await runTextEncoder(te, [
      model.tokenizer.tokenize('a photo of a red star').ids,
      model.tokenizer.tokenize('').ids,
    ]);
    const h = model.info.resolution / model.info.vaeScale;
    const dims = [1, model.info.latentChannels, h, h];
    const { timesteps, sigmas, initScale } = sampler.schedule(steps);
    let x: Float32Array = createRng(3)
      .fork('initial-noise')
      .fillNormal(new Float32Array(dims.reduce((a, b) => a * b)))
      .map((z) => z * initScale);
    let previousDenoised: Float32Array | undefined;
    for (const [index, t] of timesteps.entries()) {
      const xt = tensor('float32', dims, x);
      const [pu, pc] = splitBatch(await runUnet(unet, concatBatch([xt, xt]), t, concatBatch([uncond, cond])));
      const modelOutput = pu.data.map((u, i) => u + 7.5 * (pc.data[i] - u));
      const r = sampler.step({ modelOutput, sample: x, sigmas, index, previousDenoised });
      x = r.prevSample;
      previousDenoised = r.predOriginal;
    }
    return { x, timesteps };
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const lastLatent = (fs: Frame[]) => tensorFromWire(of(fs, 'latent').at(-1)!.tensor).data as Float32Array;

  test('euler on linspace spacing reproduces a bare loop with fractional timesteps', async () => {
    const model = withScheduler({ _class_name: 'EulerDiscreteScheduler' });
    const { x, timesteps } = await bareLoop(model, createEuler(model.scheduler), 5);
    expect(timesteps.some((t) => !Number.isInteger(t))).toBe(true);
    expect(maxDiff(lastLatent(await frames({ steps: 5 }, model)), x)).toBeLessThan(1e-5);
  });

  test('dpm++2m-karras reproduces a bare loop that carries the previous x̂₀', async () => {
    const { x } = await bareLoop(tiny, createDpmSolver2m(tiny.scheduler, { karras: true }), 5);
    expect(maxDiff(lastLatent(await frames({ steps: 5, sampler: 'dpm++2m-karras' })), x)).toBeLessThan(1e-5);
  });
});
