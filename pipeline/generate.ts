/**
 * generate: request → tokenize → text-encode (cond, uncond) → initial noise
 *           → [ unet + CFG → sampler step ] × steps (each state shared to frames and previews)
 *           → vae-decode → png → frames
 * Built per request from the model and the pipeline description; every box is a stage from `stages/`.
 */
import {
  concat,
  connect,
  defer,
  finalize,
  ignoreElements,
  last,
  merge,
  of,
  pipe,
  switchMap,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import type { Frame } from '../common/frames.ts';
import type { GenerateJob, Denoising } from '../common/generate-state.ts';
import { generatePipelineDescription, type GeneratePipelineDescription } from '../common/generate-pipeline.ts';
import type { GenerateRequest } from '../common/requests.ts';
import { PipelineError } from '../common/errors.ts';
import { samplerByName, samplerForScheduler, samplerLabel } from '../common/sampler-names.ts';
import type { SdModel } from '../weights/model-folder.ts';
import { initialNoise } from '../stages/initial-noise.ts';
import { denoise } from '../stages/denoise.ts';
import { predictNoise } from '../stages/predict-noise.ts';
import { latentPreview } from '../stages/latent-preview.ts';
import { vaePreview } from '../stages/vae-preview.ts';
import { vaeDecode } from '../stages/vae-decode.ts';
import { pngFrames } from '../stages/png-frames.ts';
import { stepFrames } from '../stages/step-frames.ts';
import { refuseMicroConditioning, textConditioning } from './text-conditioning.ts';
import { samplerStages } from './sampler-stages.ts';

export interface GenerateDeps {
  /** Opens a model by name ('tiny') or folder; the caller caches. */
  openModel(name: string, device: 'cpu' | 'cuda'): Promise<SdModel>;
  /** Loads textual-inversion embeddings into a model for one request; returns the model to use. */
  withEmbeddings?(model: SdModel, files: string[]): Promise<SdModel>;
  /** Merges LoRA files into the model's UNet for one request; returns the model to use. */
  withLora?(model: SdModel, loras: GenerateRequest['lora']): Promise<SdModel>;
  /**
   * Refuses a size the model or the host cannot take (a server's memory estimate, weights/memory-estimate.ts),
   * after the model opens and before anything runs; it throws a PipelineError.
   */
  admit?(model: SdModel, width: number, height: number, request: GenerateRequest): void;
  newRunId?(): string;
}

/** Builds the generation operator for an opened model and a pipeline description. */
export const generateOperator = async (
  model: SdModel,
  desc: GeneratePipelineDescription,
): Promise<OperatorFunction<GenerateJob, Frame>> => {
  const [textEncoder, unet, decoder] = await Promise.all([
    model.session('text_encoder'),
    model.session('unet'),
    model.session('vae_decoder'),
  ]);
  const sampler = samplerStages(desc.sampler ?? samplerForScheduler(model.scheduler), model.scheduler);
  const preview: OperatorFunction<Denoising, Frame> =
    desc.preview.use === 'latent-rgb'
      ? latentPreview(
          model.info.previewFactors
            ? {
                factors: model.info.previewFactors as [number, number, number][],
                bias: model.info.previewBias as [number, number, number] | undefined,
              }
            : model.info.family === 'unknown'
              ? 'sd1'
              : model.info.family,
          desc.preview.every,
        )
      : desc.preview.use === 'vae'
        ? vaePreview(decoder, model.info.scalingFactor, desc.preview.every)
        : ignoreElements();
  return pipe(
    await textConditioning(model, textEncoder),
    initialNoise({
      channels: model.info.latentChannels,
      vaeScale: model.info.vaeScale,
      timesteps: sampler.timesteps,
      scale: sampler.initScale,
    }),
    denoise(predictNoise(unet), sampler.update),
    connect((states) =>
      merge(
        states.pipe(stepFrames(desc.latentFrames)),
        states.pipe(preview),
        states.pipe(last(), vaeDecode(decoder, model.info.scalingFactor), pngFrames()),
      ),
    ),
  );
};

/**
 * One generation as a stream of frames; unsubscribing cancels it between denoising steps. A `progress` frame
 * (phase 'load', step 0) comes first, before the model opens, so a client sees the run start at once (and HTTP
 * servers that hold the status line until the first body chunk answer immediately).
 */
export const runGenerate = (
  request: GenerateRequest,
  deps: GenerateDeps,
  description: unknown = {},
): Observable<Frame> =>
  defer(() => {
    const runId = deps.newRunId?.() ?? crypto.randomUUID();
    const startedAt = Date.now();
    const loading: Frame = { type: 'progress', runId, step: 0, of: request.steps, phase: 'load', elapsedMs: 0 };
    return concat(of(loading), prepare(request, deps, description, runId, startedAt));
  });

const prepare = (
  request: GenerateRequest,
  deps: GenerateDeps,
  description: unknown,
  runId: string,
  startedAt: number,
): Observable<Frame> => {
  // A model with LoRA merged in owns its UNet session: released when the run ends, however it ends.
  let lora: SdModel | undefined;
  return defer(async () => {
    const desc = generatePipelineDescription.parse(description);
    lora = undefined;
    let model = await deps.openModel(request.model, request.device);
    if (request.embeddings.length) {
      if (!deps.withEmbeddings)
        throw new PipelineError('bad_request', 'embeddings: this server cannot load embedding files');
      model = await deps.withEmbeddings(model, request.embeddings);
    }
    if (request.lora.length) {
      if (!deps.withLora) throw new PipelineError('bad_request', 'lora: this server cannot load LoRA files');
      model = await deps.withLora(model, request.lora);
      lora = model;
    }
    const width = request.width ?? model.info.resolution;
    const height = request.height ?? model.info.resolution;
    if (width % model.info.vaeScale || height % model.info.vaeScale)
      throw new PipelineError('bad_request', `width/height must be multiples of ${model.info.vaeScale} for this model`);
    refuseMicroConditioning(model, request);
    deps.admit?.(model, width, height, request);
    const job: GenerateJob = { runId, request, width, height, startedAt };
    // The request's `sampler` name wins over the description's; neither: the folder's scheduler class picks.
    const sampler = request.sampler
      ? samplerByName(request.sampler)
      : (desc.sampler ?? samplerForScheduler(model.scheduler));
    const op = await generateOperator(model, { ...desc, sampler });
    return { job, op, sampler: samplerLabel(sampler, model.scheduler) };
  }).pipe(
    switchMap(({ job, op, sampler }) =>
      concat(
        of(job).pipe(op),
        defer(() =>
          of<Frame>({
            type: 'done',
            runId: job.runId,
            summary: {
              seed: request.seed,
              steps: request.steps,
              width: job.width,
              height: job.height,
              sampler,
              elapsedMs: Date.now() - job.startedAt,
            },
          }),
        ),
      ),
    ),
    finalize(() => void lora?.release()),
  );
};
