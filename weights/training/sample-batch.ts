/**
 * Draws one micro-batch from a seeded stream: which images (and mirrors), which prompts, which timesteps, the
 * noise, and the latent samples z ~ N(mean, std²)·s. The stream is forked from (seed, step, micro-step) alone, so
 * a resumed run draws exactly what an uninterrupted one would.
 */
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { timestepTensor } from '../unet-io.ts';
import type { IOInfo } from '../session.ts';
import type { TrainContext } from './train-context.ts';
import { fillTemplate, mirrorCaption } from '../../common/train/templates.ts';
import { minSnrWeight } from '../../common/train/loss-weights.ts';
import { trainInputs } from './train-graph.ts';
import { xlFeeds } from './xl-vectors.ts';

export interface MicroBatch {
  feeds: Record<string, Tensor>;
  /** For previews: the first sample's noisy latent, timestep and ᾱ. */
  first: { noisy: Float32Array; t: number; alphaBar: number };
  prompts: string[];
}

/** The prompt for an image: its caption (mirrored with the image) or a template, with the placeholder expanded to all
 * its vectors. */
const promptFor = (ctx: TrainContext, caption: string | undefined, flip: number, template: number) =>
  fillTemplate(
    ctx.request.captions && caption ? (flip ? mirrorCaption(caption) : caption) : ctx.templates[template],
    ctx.tokens.join(' '),
  );

export const sampleBatch = (
  ctx: TrainContext,
  seed: number,
  step: number,
  micro: number,
  timestepInfo: IOInfo,
): MicroBatch => {
  const rng = createRng(seed).fork(`train-step-${step}-${micro}`);
  const B = ctx.request.batch;
  const [C, h, w] = ctx.latentDims;
  const n = C * h * w;
  const { min, max } = ctx.settings.timesteps;
  const tMax = max ?? ctx.ddim.alphasCumprod.length;
  const perSample = !(timestepInfo.shape.length === 0 || timestepInfo.shape[0] === 1);
  const shared = min + rng.int(tMax - min);
  const noisy = new Float32Array(B * n);
  const target = new Float32Array(B * n);
  const weights = new Float32Array(B);
  const ts: number[] = [];
  const prompts: string[] = [];
  const timeIds: number[][] = [];
  const s = ctx.model.info.scalingFactor;
  for (let b = 0; b < B; b++) {
    const img = ctx.latents[rng.int(ctx.latents.length)];
    const flip = rng.uniform() < ctx.settings.augment.flipProbability ? 1 : 0;
    prompts.push(promptFor(ctx, img.caption, flip, rng.int(ctx.templates.length)));
    timeIds.push(img.timeIds?.[flip] ?? []);
    const t = perSample ? min + rng.int(tMax - min) : shared;
    ts.push(t);
    const ab = ctx.ddim.alphasCumprod[t];
    const eps = rng.fillNormal(new Float32Array(n));
    const draw = rng.fillNormal(new Float32Array(n));
    const [mean, std] = [img.mean[flip], img.std[flip]];
    const pt = ctx.model.scheduler.prediction_type;
    for (let i = 0; i < n; i++) {
      const z = (mean[i] + std[i] * draw[i]) * s;
      noisy[b * n + i] = Math.sqrt(ab) * z + Math.sqrt(1 - ab) * eps[i];
      target[b * n + i] =
        pt === 'v_prediction' ? Math.sqrt(ab) * eps[i] - Math.sqrt(1 - ab) * z : pt === 'sample' ? z : eps[i];
    }
    const lw = ctx.settings.lossWeighting;
    weights[b] =
      lw.use === 'min-snr' ? minSnrWeight(ab, lw.gamma, pt === 'v_prediction' ? 'v_prediction' : 'epsilon') : 1;
  }
  const ids = prompts.flatMap((p) => ctx.tokenizer.tokenize(p, { length: 77 }).ids);
  const timestep = perSample
    ? timestepInfo.dtype === 'int64'
      ? tensor('int64', [B], BigInt64Array.from(ts, BigInt))
      : tensor('float32', [B], Float32Array.from(ts))
    : timestepTensor(timestepInfo, shared, B);
  const idsInfo = ctx.step.inputs.find((i) => i.name === trainInputs.ids)!;
  return {
    feeds: {
      [trainInputs.ids]:
        idsInfo.dtype === 'int64'
          ? tensor('int64', [B, 77], BigInt64Array.from(ids, BigInt))
          : tensor('int32', [B, 77], Int32Array.from(ids)),
      [trainInputs.latents]: tensor('float32', [B, C, h, w], noisy),
      [trainInputs.timestep]: timestep,
      [trainInputs.target]: tensor('float32', [B, C, h, w], target),
      [trainInputs.weights]: tensor('float32', [B], weights),
      ...xlFeeds(ctx, prompts, timeIds),
    },
    first: { noisy: noisy.slice(0, n), t: ts[0], alphaBar: ctx.ddim.alphasCumprod[ts[0]] },
    prompts,
  };
};
