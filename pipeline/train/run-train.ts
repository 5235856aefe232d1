/**
 * train: images → decode → crop → vae-encode (cached, with mirrors) →
 *        [ sample batch + template → add noise → train step (one graph: vectors → text encoder → UNet → loss →
 *          gradient) → optimizer → loss frame → every N: validate (generate with the current vectors) / checkpoint ]
 *        × steps — a feedback loop: each step's state is fed back as the next step's input.
 * Unsubscribing stops it between two steps; files already written stay as they are.
 *
 * A run can be killed at any moment and resumed (`resume: true`): it starts by sweeping the temp files a killed
 * writer left in `out`, a fresh run writes its step-0 state before its first step, and every checkpoint writes
 * its state last (checkpoint-files.ts), so `out` always holds a complete state to resume from.
 *
 * A run asked to stop (`options.signal`, e.g. on Ctrl-C) finishes the step in progress, checkpoints that state
 * and completes without `done`: nothing trained is lost, and `resume` goes on from exactly there.
 */
import {
  concat,
  concatMap,
  defer,
  EMPTY,
  expand,
  filter,
  from,
  lastValueFrom,
  map,
  merge,
  mergeMap,
  of,
  pipe,
  ReplaySubject,
  switchMap,
  tap,
  toArray,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import type { Session, SessionFactory } from '../../weights/session.ts';
import { prepareTextEncoder, withEmbeddings, type PrepareOptions } from '../../weights/embeddings/with-embeddings.ts';
import { encodeTrainingImages, type ImageFile } from '../../stages/encode-training-images.ts';
import { trainStep } from '../../stages/train-step.ts';
import { validate } from '../../stages/validate.ts';
import { generateOperator } from '../generate.ts';
import { saveCheckpoint } from '../../stages/save-checkpoint.ts';
import { stopCheckpoint } from './stop-checkpoint.ts';
import { adamwInit } from '../../common/train/adamw.ts';
import {
  readCheckpointState,
  stateFile,
  stateFileName,
  type CheckpointIdentity,
} from '../../weights/training/checkpoint-files.ts';
import { resolveSettings, setupSdText, templatesFor } from './train-setup.ts';
import { setupXlText } from './train-setup-xl.ts';
import { xlInitializerFolder } from '../../weights/training/train-graph-xl.ts';
import { trainedEmbedding } from '../../weights/training/xl-vectors.ts';
import { inversionHooks } from '../../weights/methods/inversion-method.ts';
import { preparePPlusUnet } from '../../weights/embeddings/with-p-plus-embeddings.ts';
import { earlyStopEnd } from './early-stop-end.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';
import { createDdim } from '../../common/numerics/ddim.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import type { MemoryMode } from '../../weights/training/memory-mode.ts';
import { stateEvent, type TrainEvent, type TrainState } from '../../common/train/train-state.ts';
import { pivotalStart } from '../../weights/lora/pivotal-step.ts';
import { initLoraState, pivotalIdentity, pivotalValidationModel } from './pivotal-setup.ts';

export interface TrainDeps {
  openModel(name: string, device: 'cpu' | 'cuda'): Promise<SdModel>;
  factory: SessionFactory;
  /** Opens a built graph whose external initializers live in the model folder (see adapters/graph-session.ts). */
  openGraph(
    graph: Model,
    source: (initializer: string, location: string) => string,
    device: 'cpu' | 'cuda',
    /** TrainRequest.memory: lean-memory sessions or onnxruntime's defaults (weights/training/memory-mode.ts). */
    memory?: MemoryMode,
  ): Promise<Session>;
  readImages(dir: string): Promise<ImageFile[]>;
  /** Writes files atomically into the run's output folder; returns their paths. */
  writeFiles(dir: string, files: Record<string, Uint8Array>): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array | undefined>;
  /**
   * Removes what an interrupted atomic write left in `dir` (temp files of writers that are gone); returns how many.
   * Optional: deps that write nothing half-way need none.
   */
  sweepTemps?(dir: string): Promise<number>;
  textEncoderOptions?: (model: SdModel) => PrepareOptions;
  newRunId?(): string;
}

/** Runs state events through `op`, passing frames by. */
const onStates = (op: OperatorFunction<TrainState, TrainEvent>): OperatorFunction<TrainEvent, TrainEvent> =>
  concatMap((e) => (e.kind === 'state' ? of(e.state).pipe(op) : of(e)));

const setup = async (request: TrainRequest, deps: TrainDeps, description: unknown, early: (f: Frame) => void) => {
  const runId = deps.newRunId?.() ?? crypto.randomUUID();
  const started = Date.now();
  const model = await deps.openModel(request.model, request.device);
  if (!(await model.has('vae_encoder')))
    throw new PipelineError(
      'bad_model',
      `'${model.files.root}' has no vae_encoder/model.onnx; training needs it to encode the images`,
    );
  const images = await deps.readImages(request.images);
  if (!images.length)
    throw new PipelineError('bad_request', `images: '${request.images}' holds no PNG, JPEG or WebP files`);
  const resolution = request.resolution ?? model.info.resolution;
  const channels = model.info.latentChannels;
  const h = resolution / model.info.vaeScale;
  const ddim = createDdim(model.scheduler);
  const settings = resolveSettings(request, description, ddim.alphasCumprod.length);
  const choice = settings.inversion;
  const text = model.info.sdxl
    ? await setupXlText(model, request, [channels, h, h], choice)
    : await setupSdText(model, request, [channels, h, h], choice);
  const { tokenizer, tokens, tokenIds, dim } = text;
  const layers = text.method.layers;
  const step = await deps.openGraph(
    text.graph,
    (init, loc) => model.files.path(`${xlInitializerFolder(init)}/${loc}`),
    request.device,
    request.memory,
  );
  // The method's starting vectors: dti rescales the initializer's, p-plus repeats them for every layer.
  const inversion = inversionHooks(choice, text.method);
  const initVectors = inversion.start(text.initVectors);
  // The model is open; encoding the images (and their mirrors) is the rest of the start-up: say so.
  early({ type: 'progress', runId, step: 0, of: request.steps, phase: 'encode', elapsedMs: Date.now() - started });
  const latents = await lastValueFrom(
    from(images).pipe(
      encodeTrainingImages(await model.session('vae_encoder'), {
        resolution,
        channels,
        minSide: Math.min(64, resolution / 2),
      }),
      toArray(),
    ),
  );
  const ctx: TrainContext = {
    runId,
    request,
    model,
    step,
    tokenizer,
    tokens,
    tokenIds,
    dim,
    initVectors,
    latents,
    latentDims: [channels, h, h],
    ddim,
    templates: templatesFor(request.property),
    settings,
    lr: request.scaleLr ? request.lr * request.batch * request.accumulate : request.lr,
    ...(text.xl ? { xl: text.xl } : {}),
    inversion,
    ...(choice.use === 'pivotal' && text.lora
      ? {
          lora: {
            shape: text.lora.shape,
            layers: text.lora.layers,
            fraction: choice.fraction,
            lr: choice.lr,
            start: pivotalStart(request.steps, choice.fraction),
          },
        }
      : {}),
  };
  const id: CheckpointIdentity = {
    token: request.token,
    count: tokens.length,
    dim,
    ...(text.xl ? { dim2: text.xl.dim2 } : {}),
    seed: request.seed,
    model: text.fingerprint,
    settings: { lr: ctx.lr, schedule: request.schedule, warmup: request.warmup, steps: request.steps },
    ...(choice.use !== 'ti' ? { method: choice.use } : {}),
    ...(layers ? { layers } : {}),
    ...(ctx.lora ? { lora: pivotalIdentity(ctx.lora) } : {}),
  };
  await deps.sweepTemps?.(request.out);
  const saved = request.resume ? await deps.readFile(`${request.out}/${stateFileName}`) : undefined;
  if (request.resume && !saved) throw new PipelineError('not_found', `resume: no ${stateFileName} in '${request.out}'`);
  const state0: TrainState = saved
    ? readCheckpointState(saved, id, { allowChanges: request.resumeWithChanges })
    : {
        step: 0,
        vectors: initVectors,
        optimizer: adamwInit(initVectors.length),
        ...(ctx.lora ? { lora: initLoraState(ctx.lora, request.seed) } : {}),
      };
  // The step-0 state: a run killed before (or while) writing its first checkpoint still has a state to resume.
  if (!saved) await deps.writeFiles(request.out, { [stateFileName]: stateFile(state0, id) });
  const options = deps.textEncoderOptions?.(model);
  const encoder = prepareTextEncoder(model, deps.factory, options);
  const encoder2 = text.xl ? prepareTextEncoder(model, deps.factory, options, 'text_encoder_2') : undefined;
  // p-plus validates with the UNet rewritten for per-layer conditioning, opened once for the run.
  const unet = layers ? preparePPlusUnet(model, deps.factory, options) : undefined;
  // pivotal validates with the current LoRA merged into the UNet (pivotalValidationModel).
  const withVectors = pivotalValidationModel(
    ctx,
    (vectors: Float32Array) =>
      withEmbeddings(model, [trainedEmbedding(request.token, vectors, id)], deps.factory, { encoder, encoder2, unet }),
    (graph) => deps.openGraph(graph, (_, loc) => model.files.path(`unet/${loc}`), request.device),
  );
  return { ctx, id, state0, withVectors };
};

export interface TrainOptions {
  /**
   * Aborting it stops the run after the step in progress (its validation and checkpoint included): that state is
   * checkpointed, a `checkpoint` frame names its step, and the stream completes without a `done` frame.
   */
  signal?: AbortSignal;
}

/**
 * A training run as a stream of frames: loss per step, previews, validation, checkpoints, then done — or, when
 * `options.signal` aborts, a last checkpoint of the step it stopped at.
 */
export const runTrain = (
  request: TrainRequest,
  deps: TrainDeps,
  description?: unknown,
  { signal }: TrainOptions = {},
): Observable<Frame> =>
  defer(() => {
    // Frames of the start-up (its phases), before the run's own; kept until merged in, then ended with the set-up.
    const early = new ReplaySubject<Frame>();
    const ready = from(setup(request, deps, description, (f) => early.next(f)).finally(() => early.complete()));
    return merge(early, ready.pipe(switchMap(runSteps(request, deps, signal))));
  }).pipe(mergeMap((f) => [f]));

/** The run itself, once set up: the loop of steps, then `done` or a stop's last checkpoint. */
const runSteps =
  (request: TrainRequest, deps: TrainDeps, signal: AbortSignal | undefined) =>
  ({ ctx, id, state0, withVectors }: Awaited<ReturnType<typeof setup>>): Observable<Frame> => {
    let last = state0;
    let saved = state0.step; // the step of the newest complete checkpoint in `out`
    const write = (files: Record<string, Uint8Array>) => deps.writeFiles(request.out, files);
    const oneStep = pipe(
      trainStep(ctx),
      onStates(validate(ctx, withVectors, generateOperator)),
      onStates(saveCheckpoint(ctx, id, write)),
    );
    const stopping = () => signal?.aborted === true;
    const loop = of(stateEvent(state0)).pipe(
      expand(
        (e: TrainEvent) =>
          e.kind === 'state' && e.state.step < request.steps && !stopping() && !e.state.earlyStop
            ? of(e.state).pipe(oneStep)
            : EMPTY,
        1,
      ),
      tap((e) => e.kind === 'state' && (last = e.state)),
      filter((e): e is Extract<TrainEvent, { kind: 'frame' }> => e.kind === 'frame'),
      map((e) => e.frame),
      tap((f) => f.type === 'checkpoint' && (saved = f.step)),
    );
    const start: Frame = {
      type: 'progress',
      runId: ctx.runId,
      step: state0.step,
      of: request.steps,
      phase: 'train',
      elapsedMs: 0,
    };
    const done = defer(() =>
      of<Frame>({
        type: 'done',
        runId: ctx.runId,
        summary: {
          steps: last.step,
          token: request.token,
          vectors: ctx.tokens.length,
          loss: last.last?.loss ?? null,
          best: last.best ?? null,
          out: request.out,
          method: ctx.inversion?.use ?? 'ti',
          ...(last.earlyStop ? { earlyStop: last.earlyStop } : {}),
        },
      }),
    );
    // The loop checks the signal as each state arrives, so a stop lands after the step in progress.
    const end = defer(() =>
      stopping() && last.step < request.steps
        ? stopCheckpoint(ctx, id, write, last, saved)
        : last.earlyStop
          ? concat(earlyStopEnd(ctx, id, write, last), done)
          : done,
    );
    return concat(of(start), loop, end);
  };
