/**
 * Phase 2: text encoder + UNet on the cached latents of a fixed set of world scenes. Each step draws items,
 * timesteps t ~ U{0…T−1} and noise ε from the seed, forms z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε, swaps a tenth of the
 * captions for the empty one (so the unconditional prediction that classifier-free guidance needs is learned
 * too), and regresses ε.
 */
import { alphasCumprodOf, betaSchedule } from '../../common/numerics/beta-schedule.ts';
import { parseSchedulerConfig } from '../../common/numerics/scheduler-config.ts';
import { createRng } from '../../common/numerics/rng.ts';
import type { Session } from '../../weights/session.ts';
import { tensor } from '../../common/tensor.ts';
import type { ClipTokenizer } from '../../weights/tokenizer/clip-tokenizer.ts';
import { buildDiffusionLossGraph, diffusionLossIO as io } from './diffusion-loss-graph.ts';
import { initialWeights, type Component } from './model-weights.ts';
import { defaultAdamW, ParamSet } from './param-set.ts';
import type { PhaseSetup, PreparedPhase } from './vae-phase.ts';
import { tokenizeCaptions } from './world-data.ts';
import { trainLoop } from './train-loop.ts';

/** The diffusion model's training set: scaled latents [count, C, h, w] and caption ids [count, length]. */
export interface LatentDataset {
  latents: Float32Array;
  ids: Int32Array;
  count: number;
  latent: [number, number, number];
  length: number;
}

/** The diffusion phase's inputs: the untrained text encoder and UNet, the tokenizer and the cached dataset. */
export interface DiffusionSetup extends PhaseSetup {
  textEncoder: Component;
  unet: Component;
  tokenizer: ClipTokenizer;
  data: LatentDataset;
  /** The folder's scheduler_config.json values (SD1's DDIM schedule unless told). */
  scheduler?: Record<string, unknown>;
}

/**
 * Builds the diffusion loss graph and its weights, and the loop that trains them.
 *
 * @example
 * const dm = await prepareDiffusion({ recipe, open, textEncoder, unet, tokenizer, data });
 * for await (const e of dm.events) report(e);
 */
export const prepareDiffusion = async (s: DiffusionSetup): Promise<PreparedPhase> => {
  const { recipe, data } = s;
  const { batch, captionDropout } = recipe.diffusion;
  const graph = buildDiffusionLossGraph(s.textEncoder.model, s.unet.model, {
    batch,
    sequence: data.length,
    latent: data.latent,
  });
  const params = new ParamSet(initialWeights(graph, { text_encoder: s.textEncoder, unet: s.unet }));
  if (s.resume) params.restore(s.resume);
  const session = await s.open(graph.model);
  const cfg = parseSchedulerConfig(s.scheduler ?? {});
  const ac = alphasCumprodOf(betaSchedule(cfg));
  const empty = tokenizeCaptions(s.tokenizer, [''], data.length);
  const per = data.latent[0] * data.latent[1] * data.latent[2];
  const batchAt = (step: number) => {
    const rng = createRng(recipe.seed).fork(`diffusion-batch:${step}`);
    const noise = rng.fork('noise').fillNormal(new Float32Array(batch * per));
    const noisy = new Float32Array(batch * per);
    const ids = new Int32Array(batch * data.length);
    const timestep = new Float32Array(batch);
    for (let b = 0; b < batch; b++) {
      const item = rng.int(data.count);
      const t = rng.int(cfg.num_train_timesteps);
      timestep[b] = t;
      const [a, c] = [Math.sqrt(ac[t]), Math.sqrt(1 - ac[t])];
      for (let i = 0; i < per; i++) noisy[b * per + i] = a * data.latents[item * per + i] + c * noise[b * per + i];
      const drop = rng.uniform() < captionDropout;
      ids.set(drop ? empty : data.ids.subarray(item * data.length, (item + 1) * data.length), b * data.length);
    }
    return {
      [io.ids]: tensor('int32', [batch, data.length], ids),
      [io.latents]: tensor('float32', [batch, ...data.latent], noisy),
      [io.timestep]: tensor('float32', [batch], timestep),
      [io.target]: tensor('float32', [batch, ...data.latent], noise),
    };
  };
  const adamw = { ...defaultAdamW, clipNorm: recipe.clipNorm, weightDecay: recipe.weightDecay };
  const events = trainLoop({
    phase: 'diffusion',
    session,
    params,
    recipe: recipe.diffusion,
    adamw,
    batchAt,
    checkpointEvery: s.checkpointEvery,
  });
  return { graph, params, session, events };
};

/**
 * Encodes world items with a (trained) VAE encoder session: posterior means, then the scaling factor 1/std
 * that gives diffusion unit-variance latents (SD's 0.18215 plays this role), and the latents multiplied by it.
 * `pixelsAt(from, n)` renders items on demand, so the whole set's pixels are never held at once.
 *
 * @example
 * const { latents, scalingFactor } = await encodeLatents(encoder, 4096, (from, n) => worldItems(0, from, n).pixels);
 */
export const encodeLatents = async (
  encoder: Session,
  count: number,
  pixelsAt: (from: number, n: number) => Float32Array,
  size = 64,
  chunk = 64,
  scale = 8,
): Promise<{ latents: Float32Array; scalingFactor: number }> => {
  const h = size / scale;
  const per = 4 * h * h;
  const latents = new Float32Array(count * per);
  const input = encoder.inputs[0].name;
  for (let at = 0; at < count; at += chunk) {
    const n = Math.min(chunk, count - at);
    const out = await encoder.run({ [input]: tensor('float32', [n, 3, size, size], pixelsAt(at, n)) });
    const moments = Object.values(out)[0].data as Float32Array;
    // moments are [n, 8, h, w]: the mean is the first 4 channels of each item.
    for (let b = 0; b < n; b++) latents.set(moments.subarray(b * 2 * per, b * 2 * per + per), (at + b) * per);
  }
  let sum = 0;
  let sq = 0;
  for (const v of latents) (sum += v), (sq += v * v);
  const mean = sum / latents.length;
  const scalingFactor = 1 / Math.sqrt(sq / latents.length - mean * mean);
  for (let i = 0; i < latents.length; i++) latents[i] *= scalingFactor;
  return { latents, scalingFactor };
};
