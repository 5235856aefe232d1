/**
 * Registry entries for image-to-image (SDEdit): noise-to-strength pushes clean latents part of the way back to
 * noise; denoise runs the rest of the schedule with a prompt, through the generate pipeline's own stages.
 */
import { firstValueFrom, of } from 'rxjs';
import { z } from 'zod';
import { denoiseLatent } from '../../stages/denoise-latent.ts';
import { noiseToStrength } from '../../stages/noise-to-strength.ts';
import { GenerateRequest } from '../../common/requests.ts';
import type { SchedulerConfig } from '../../common/numerics/scheduler-config.ts';
import { samplerByName, samplerForScheduler, type SamplerName } from '../../common/sampler-names.ts';
import { samplerStages } from '../sampler-stages.ts';
import { textConditioning } from '../text-conditioning.ts';
import { defineStage } from './stage-definition.ts';

// A sampler by name, or the one the model folder's scheduler class picks (as generate does).
const samplerOf = (name: SamplerName | null, scheduler: SchedulerConfig) =>
  samplerStages(name ? samplerByName(name) : samplerForScheduler(scheduler), scheduler);

/** Clean latent → latent noised to the strength's timestep, with the timesteps left to run. */
export const noiseToStrengthStage = defineStage({
  name: 'noise-to-strength',
  summary:
    "noise clean latents to a strength (0 = unchanged, 1 = pure noise) on a sampler's N-step schedule, for denoise",
  input: 'latent',
  output: 'latent',
  settings: z.strictObject({
    strength: z.number().min(0).max(1).default(0.8),
    steps: z.int().min(1).max(1000).default(50),
    seed: z.int().min(0).default(0),
    /** Must match denoise's; null: the model folder's. */
    sampler: GenerateRequest.shape.sampler,
  }),
  create: async (s, ctx) => noiseToStrength(samplerOf(s.sampler, (await ctx.model()).scheduler), s),
});

const denoiseSettings = GenerateRequest.pick({
  prompt: true,
  negativePrompt: true,
  guidance: true,
  eta: true,
  sampler: true,
});

/** Noised latent → clean latent, guided by a prompt. */
export const denoiseStage = defineStage({
  name: 'denoise',
  summary:
    'denoise latents over the timesteps noise-to-strength left them, guided by a prompt (the sampler + classifier-free guidance)',
  input: 'latent',
  output: 'latent',
  settings: denoiseSettings,
  create: async (s, ctx) => {
    const model = await ctx.model();
    const request = GenerateRequest.parse({ ...s, model: 'tiny' });
    const [textEncoder, unet] = await Promise.all([model.session('text_encoder'), model.session('unet')]);
    // The prompt is the same for every latent: encode it once per run, as generate does for the model's family
    // (SDXL: both encoders and the pooled prompt; denoiseLatent sets the time ids from each latent's size).
    const job = { runId: ctx.runId, request, width: 0, height: 0, startedAt: Date.now() };
    const { cond, uncond, added } = await firstValueFrom(of(job).pipe(await textConditioning(model, textEncoder)));
    const text = { cond, uncond, ...(added ? { added } : {}) };
    return denoiseLatent({
      unet,
      sampler: samplerOf(s.sampler, model.scheduler),
      text,
      request,
      runId: ctx.runId,
      vaeScale: model.info.vaeScale,
      onStep: (step, of) => ctx.progress('denoise', step, of),
    });
  },
});
