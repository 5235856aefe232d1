import { concat, concatMap, defer, from, mergeMap, of, type Observable, type OperatorFunction } from 'rxjs';
import type { Frame, FrameOf } from '../common/frames.ts';
import type { GenerateJob } from '../common/generate-state.ts';
import { generatePipelineDescription, type GeneratePipelineDescription } from '../common/generate-pipeline.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import type { TrainContext } from '../weights/training/train-context.ts';
import { fillTemplate } from '../common/train/templates.ts';
import { frameEvent, stateEvent, type TrainEvent, type TrainState } from '../common/train/train-state.ts';
import { validationLoss } from '../weights/training/validation-loss.ts';
import { afterValidation } from '../common/train/early-stop.ts';
import type { SdModel } from '../weights/model-folder.ts';

/**
 * A model view whose prompts use the given vectors for the placeholder (see `withEmbeddings`) and, in pivotal
 * tuning, the current LoRA merged into its UNet.
 */
export type ModelWithVectors = (vectors: Float32Array, lora?: TrainState['lora']) => Promise<SdModel>;

/** Builds the generation operator for a model and a description: the composition layer passes its own. */
export type GenerateOperator = (
  model: SdModel,
  desc: GeneratePipelineDescription,
) => Promise<OperatorFunction<GenerateJob, Frame>>;

/** Generates the validation images one by one, streaming their denoising frames; collects the images. */
const generateAll = (
  ctx: TrainContext,
  generate: GenerateOperator,
  model: SdModel,
  prompt: string,
  into: FrameOf<'image'>[],
): Observable<TrainEvent> =>
  from(Array.from({ length: ctx.request.validationImages }, (_, i) => i)).pipe(
    concatMap((seed) =>
      defer(async () => {
        const request = parseGenerateRequest({ prompt, steps: ctx.request.validationSteps, seed, guidance: 7.5 });
        const [, h, w] = ctx.latentDims;
        const job = {
          runId: ctx.runId,
          request,
          width: w * model.info.vaeScale,
          height: h * model.info.vaeScale,
          startedAt: Date.now(),
        };
        return of(job).pipe(await generate(model, generatePipelineDescription.parse({ latentFrames: false })));
      }).pipe(mergeMap((frames) => frames)),
    ),
    mergeMap((f: Frame) => {
      if (f.type === 'image') return (into.push(f), []);
      return [frameEvent(f.type === 'progress' ? { ...f, phase: 'validate' } : f)];
    }),
  );

/**
 * Every `validateEvery` steps (and at the last): the deterministic validation loss, then validation images —
 * DDIM with guidance using the current vectors, each denoising step streamed like a generation — and one
 * `validation` frame holding the loss and the PNGs. Passes the state on, with the best loss updated.
 */
export const validate = (
  ctx: TrainContext,
  withVectors: ModelWithVectors,
  generate: GenerateOperator,
): OperatorFunction<TrainState, TrainEvent> =>
  concatMap((s: TrainState): Observable<TrainEvent> => {
    const r = ctx.request;
    const due = r.validateEvery > 0 && (s.step % r.validateEvery === 0 || s.step === r.steps);
    if (!due) return of(stateEvent(s));
    return defer(async () => {
      const loss = await validationLoss(ctx, s.vectors, s.lora);
      const next = afterValidation(s, loss, { patience: r.earlyStop, every: r.validateEvery, steps: r.steps });
      const prompt = fillTemplate(r.validationPrompt ?? ctx.templates[0], r.token);
      const images: FrameOf<'image'>[] = [];
      const live =
        r.validationImages > 0
          ? generateAll(ctx, generate, await withVectors(s.vectors, s.lora), prompt, images)
          : of<TrainEvent>();
      const summary = defer(() =>
        of(
          frameEvent({
            type: 'validation',
            runId: ctx.runId,
            step: s.step,
            loss,
            images: images.map((f) => ({ prompt, width: f.width, height: f.height, png: f.png })),
          }),
          stateEvent(next),
        ),
      );
      return concat(live, summary);
    }).pipe(mergeMap((events) => events));
  });
