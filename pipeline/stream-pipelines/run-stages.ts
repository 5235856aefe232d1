/**
 * Whole runs as stages: `generate` (a source: no input, the generate pipeline's frames out) and `train` (the
 * input images in, training frames out). They reuse `runGenerate` and `runTrain` unchanged; the description's
 * model and device apply, and the run's id is theirs.
 */
import { switchMap, toArray } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { runGenerate } from '../generate.ts';
import { generatePipelineDescription } from '../../common/generate-pipeline.ts';
import { GenerateRequest } from '../../common/requests.ts';
import { runTrain } from '../train/run-train.ts';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { TrainRequest } from '../../common/train/train-request.ts';
import { defineStage } from './stage-definition.ts';

const unavailable = (what: string) =>
  new PipelineError('bad_request', `${what} cannot run here: this host did not provide its dependencies`);

/** A text-to-image run, as `POST /v1/generate` would do it. */
export const generateStage = defineStage({
  name: 'generate',
  summary:
    'generate images from a prompt (a source: takes no input; emits progress, latent, preview, image and done frames)',
  input: 'none',
  output: 'frame',
  whole: true,
  settings: GenerateRequest.omit({ model: true, device: true }).extend({
    pipeline: generatePipelineDescription.optional(),
  }),
  create: (s, ctx) => {
    if (!ctx.generate) throw unavailable('generate');
    const deps = { ...ctx.generate, newRunId: () => ctx.runId };
    const { pipeline, ...request } = s;
    return () => runGenerate({ ...request, model: ctx.modelName, device: ctx.device }, deps, pipeline ?? {});
  },
});

/** Textual inversion on the images the stream brings (all of them: training needs the whole set). */
export const trainStage = defineStage({
  name: 'train',
  summary:
    'learn a new word from the input images (textual inversion); emits loss, preview, validation, checkpoint and done frames',
  input: 'image-file',
  output: 'frame',
  whole: true,
  settings: TrainRequest.omit({ images: true, model: true, device: true }).extend({
    pipeline: trainPipelineDescription.optional(),
  }),
  create: (s, ctx) => {
    const train = ctx.train;
    if (!train) throw unavailable('train');
    const { pipeline, ...request } = s;
    return (files$) =>
      files$.pipe(
        toArray(),
        switchMap((files) => {
          const readImages = async () =>
            files.map(({ name, bytes, caption }) => ({ name, bytes, ...(caption ? { caption } : {}) }));
          const full = { ...request, images: '(input stream)', model: ctx.modelName, device: ctx.device };
          return runTrain(full, { ...train, readImages, newRunId: () => ctx.runId }, pipeline);
        }),
      );
  },
});
