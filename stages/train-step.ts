import { concatMap, pipe, type OperatorFunction } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import type { Frame } from '../common/frames.ts';
import { adamwStep } from '../common/train/adamw.ts';
import { learningRate } from '../common/train/lr-schedule.ts';
import { sampleBatch } from '../weights/training/sample-batch.ts';
import { sgdStep } from '../common/train/sgd.ts';
import type { TrainContext } from '../weights/training/train-context.ts';
import { frameEvent, norm, stateEvent, type TrainEvent, type TrainState } from '../common/train/train-state.ts';
import { trainInputs, trainOutputs } from '../weights/training/train-graph.ts';
import { lossScaleFeed, takesLossScale } from '../weights/training/loss-scale-feed.ts';
import { initialLossScale, unscale } from '../common/train/loss-scale.ts';
import { previewFrames } from '../weights/training/preview-frames.ts';
import { capVectorNorms, stepGradient, vectorFeeds } from '../weights/training/xl-vectors.ts';
import { addLoraGrad, loraUpdate, pivotalFeeds } from '../weights/lora/pivotal-step.ts';

/**
 * One optimizer update: `accumulate` micro-batches, each one onnxruntime run returning the loss and
 * ∂loss/∂vectors; the mean gradient (clipped to `clipGradNorm`) goes to AdamW (or SGD). Emits the `loss` frame,
 * x̂₀ previews when due, then the next state (which the loop feeds back). A NaN or infinite loss stops the run
 * before anything is updated, so the last checkpoint stays the last good one.
 */
export const trainStep = (ctx: TrainContext): OperatorFunction<TrainState, TrainEvent> => {
  let clock: { at: number; step: number } | undefined; // for it/s: when and at which step this run's loop began
  return pipe(
    concatMap(async (s: TrainState): Promise<TrainEvent[]> => {
      const r = ctx.request;
      const vectors = vectorFeeds(ctx, s.vectors);
      const timestepInfo = ctx.step.inputs.find((i) => i.name === trainInputs.timestep)!;
      const grad = new Float32Array(s.vectors.length);
      // A float16 step graph takes a loss scale (dynamic loss scaling, common/train/loss-scale.ts).
      const scaler = takesLossScale(ctx.step) ? (s.lossScale ?? initialLossScale()) : undefined;
      const scaleFeed = scaler ? lossScaleFeed(ctx.step, scaler.scale) : {};
      let loss = 0;
      let preview: Frame[] = [];
      // Pivotal tuning: the LoRA's weights are fed and its gradient gathered beside the vectors'.
      const lora =
        ctx.lora && s.lora
          ? {
              setup: ctx.lora,
              state: s.lora,
              feeds: pivotalFeeds(ctx.lora, s.lora),
              grad: new Float32Array(s.lora.params.length),
            }
          : undefined;
      for (let micro = 0; micro < r.accumulate; micro++) {
        const batch = sampleBatch(ctx, r.seed, s.step, micro, timestepInfo);
        const out = await ctx.step.run({ ...batch.feeds, ...vectors, ...scaleFeed, ...lora?.feeds });
        const l = (out[trainOutputs.loss].data as Float32Array)[0];
        if (!Number.isFinite(l))
          throw new PipelineError(
            'numeric',
            `the loss became ${l} at step ${s.step + 1}; training stopped, the last checkpoint is kept. Lower --lr?`,
            { step: s.step + 1 },
          );
        loss += l / r.accumulate;
        const g = stepGradient(ctx, out);
        for (let i = 0; i < grad.length; i++) grad[i] += g[i] / r.accumulate;
        if (lora) addLoraGrad(lora.setup, out, lora.grad, 1 / r.accumulate);
        const due = r.previewEvery > 0 && (s.step + 1) % r.previewEvery === 0;
        if (micro === 0 && due)
          preview = await previewFrames(
            ctx,
            s.step + 1,
            batch.first,
            out[trainOutputs.prediction].data as Float32Array,
          );
      }
      // Under a loss scale the LoRA's gradient is scaled too: an overflow in either skips the whole update.
      const unscaled = scaler && unscale(grad, scaler);
      const unscaledLora = scaler && lora ? unscale(lora.grad, scaler) : undefined;
      const overflow = [unscaled, unscaledLora].find((u) => u && !u.grad);
      if (scaler && overflow) return skippedStep(ctx, s, loss, scaler.scale, overflow.next);
      if (unscaled?.grad) grad.set(unscaled.grad);
      if (unscaledLora?.grad) lora?.grad.set(unscaledLora.grad);
      ctx.inversion?.gradient(grad, s.vectors); // dti: the tangent part only
      const gradNorm = norm(grad);
      if (!Number.isFinite(gradNorm))
        throw new PipelineError(
          'numeric',
          `the gradient became ${gradNorm} at step ${s.step + 1}; training stopped, the last checkpoint is kept`,
        );
      if (r.clipGradNorm > 0 && gradNorm > r.clipGradNorm)
        for (let i = 0; i < grad.length; i++) grad[i] *= r.clipGradNorm / gradNorm;
      const lr = learningRate(r.schedule, ctx.lr, s.step, r.steps, r.warmup);
      const params = Float32Array.from(s.vectors);
      const opt = ctx.settings.optimizer;
      const optimizer =
        opt.use === 'sgd'
          ? sgdStep(params, grad, s.optimizer, lr, opt.momentum)
          : adamwStep(params, grad, s.optimizer, lr, {
              beta1: r.beta1,
              beta2: r.beta2,
              eps: r.eps,
              weightDecay: r.weightDecay,
            });
      capVectorNorms(ctx, params, r.maxNormRatio);
      ctx.inversion?.update(params); // dti: back onto the sphere
      // An update can overflow even when the loss was finite (a huge lr): never pass such vectors on to a checkpoint.
      if (!params.every(Number.isFinite))
        throw new PipelineError(
          'numeric',
          `the learned vectors became non-finite at step ${s.step + 1} (lr ${lr}); training stopped, the last checkpoint is kept`,
          { step: s.step + 1 },
        );
      const adapter = lora && loraUpdate(lora.setup, lora.state, lora.grad, s.step, r);
      if (adapter && !adapter.state.params.every(Number.isFinite))
        throw new PipelineError(
          'numeric',
          `the LoRA weights became non-finite at step ${s.step + 1} (lr ${adapter.lr}); training stopped, the last checkpoint is kept`,
          { step: s.step + 1 },
        );
      const next: TrainState = {
        ...s,
        step: s.step + 1,
        vectors: params,
        optimizer,
        last: { loss, lr, gradNorm },
        ...(unscaled ? { lossScale: unscaled.next } : {}),
        ...(adapter ? { lora: adapter.state } : {}),
      };
      const lossFrame: Frame = {
        type: 'loss',
        runId: ctx.runId,
        step: next.step,
        loss,
        lr,
        gradNorm,
        embeddingNorm: norm(params),
        ...(scaler ? { terms: { lossScale: scaler.scale } } : {}),
      };
      clock ??= { at: Date.now(), step: s.step };
      const elapsedMs = Date.now() - clock.at;
      const progress: Frame = {
        type: 'progress',
        runId: ctx.runId,
        step: next.step,
        of: r.steps,
        phase: 'train',
        elapsedMs,
        ...(elapsedMs > 0 ? { itPerSec: ((next.step - clock.step) * 1000) / elapsedMs } : {}),
      };
      return [frameEvent(lossFrame), frameEvent(progress), ...preview.map(frameEvent), stateEvent(next)];
    }),
    concatMap((events) => events),
  );
};

/**
 * A float16 step whose scaled gradient overflowed: no update (vectors and optimizer moments as they were), the
 * step counted (as torch's GradScaler counts it), the halved scale passed on. The loss frame says `phase:
 * 'overflow'` with gradNorm 0 (nothing was applied). A scale driven below half's smallest subnormal means the
 * overflow is not the scale's doing (a NaN in the forward pass): that stops the run.
 */
const skippedStep = (
  ctx: TrainContext,
  s: TrainState,
  loss: number,
  used: number,
  lossScale: NonNullable<TrainState['lossScale']>,
): TrainEvent[] => {
  if (lossScale.scale < 2 ** -24)
    throw new PipelineError(
      'numeric',
      `the gradient stayed non-finite while the loss scale fell to ${lossScale.scale} at step ${s.step + 1}; training stopped, the last checkpoint is kept`,
      { step: s.step + 1 },
    );
  const lr = learningRate(ctx.request.schedule, ctx.lr, s.step, ctx.request.steps, ctx.request.warmup);
  const next: TrainState = { ...s, step: s.step + 1, lossScale };
  const frame: Frame = {
    type: 'loss',
    runId: ctx.runId,
    step: next.step,
    loss,
    lr,
    gradNorm: 0,
    phase: 'overflow',
    terms: { lossScale: used },
  };
  return [frameEvent(frame), stateEvent(next)];
};
