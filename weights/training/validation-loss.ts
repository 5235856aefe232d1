/**
 * A deterministic validation loss (as DVAR proposes for deciding when to stop): the same images, the same
 * prompt, the same timesteps and the same noise every time, and z = the latent mean (no sampling), so the only
 * thing that changes between evaluations is the learned vectors.
 */
import { createRng } from '../../common/numerics/rng.ts';
import { tensor } from '../../common/tensor.ts';
import { timestepTensor } from '../unet-io.ts';
import { trainInputs, trainOutputs } from './train-graph.ts';
import { vectorFeeds, xlFeeds } from './xl-vectors.ts';
import type { TrainContext } from './train-context.ts';
import { lossScaleFeed } from './loss-scale-feed.ts';
import { fillTemplate } from '../../common/train/templates.ts';

const fixedTimesteps = [150, 450, 750];

export const validationLoss = async (ctx: TrainContext, vectors: Float32Array): Promise<number> => {
  const [C, h, w] = ctx.latentDims;
  const n = C * h * w;
  const s = ctx.model.info.scalingFactor;
  const tInfo = ctx.step.inputs.find((i) => i.name === trainInputs.timestep)!;
  const idsInfo = ctx.step.inputs.find((i) => i.name === trainInputs.ids)!;
  const prompt = fillTemplate(ctx.templates[0], ctx.tokens.join(' '));
  const ids = ctx.tokenizer.tokenize(prompt, { length: 77 }).ids;
  const T = ctx.ddim.alphasCumprod.length;
  let total = 0;
  let count = 0;
  for (const [k, img] of ctx.latents.slice(0, 4).entries()) {
    for (const t0 of fixedTimesteps) {
      const t = Math.min(T - 1, Math.round((t0 * T) / 1000));
      const ab = ctx.ddim.alphasCumprod[t];
      const eps = createRng(ctx.request.seed).fork(`validation-${k}-${t0}`).fillNormal(new Float32Array(n));
      const noisy = new Float32Array(n);
      const target = new Float32Array(n);
      const pt = ctx.model.scheduler.prediction_type;
      for (let i = 0; i < n; i++) {
        const z = img.mean[0][i] * s;
        noisy[i] = Math.sqrt(ab) * z + Math.sqrt(1 - ab) * eps[i];
        target[i] =
          pt === 'v_prediction' ? Math.sqrt(ab) * eps[i] - Math.sqrt(1 - ab) * z : pt === 'sample' ? z : eps[i];
      }
      const out = await ctx.step.run(
        {
          [trainInputs.ids]:
            idsInfo.dtype === 'int64'
              ? tensor('int64', [1, 77], BigInt64Array.from(ids, BigInt))
              : tensor('int32', [1, 77], Int32Array.from(ids)),
          ...vectorFeeds(ctx, vectors),
          ...xlFeeds(ctx, [prompt], [img.timeIds?.[0] ?? []]),
          [trainInputs.latents]: tensor('float32', [1, C, h, w], noisy),
          [trainInputs.timestep]: timestepTensor(tInfo, t, 1),
          [trainInputs.target]: tensor('float32', [1, C, h, w], target),
          [trainInputs.weights]: tensor('float32', [1], Float32Array.of(1)),
          ...lossScaleFeed(ctx.step),
        },
        [trainOutputs.loss],
      );
      total += (out[trainOutputs.loss].data as Float32Array)[0];
      count++;
    }
  }
  return total / count;
};
