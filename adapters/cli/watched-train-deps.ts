/**
 * The training run's dependencies, watched by the `train` command: the model and the images the run opens are
 * kept, so that once setup is through the command can say what it found and warn about what will not work as the
 * user may expect (too few images, captions or a validation prompt longer than the text encoder reads).
 */
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { fillTemplate } from '../../common/train/templates.ts';
import type { TrainRequest } from '../../common/train/train-request.ts';
import type { TrainDeps } from '../../pipeline/train/run-train.ts';
import type { ImageFile } from '../../stages/encode-training-images.ts';
import { vectorTokens } from '../../weights/embeddings/expand-prompt.ts';
import { copyTokenizer } from '../../weights/embeddings/with-embeddings.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { trainDeps } from '../train-deps.ts';
import { warnIfCut } from './long-prompt.ts';
import { describeTrainingData, fewImagesWarning } from './training-data.ts';

/**
 * `deps` for runTrain, and `found(startStep)`, which logs what the run found; call it on the run's first
 * progress frame (after setup has opened the model and read the images).
 * @example
 * const { deps, found } = watchedDeps(request, undefined, log);
 * runTrain(request, deps).pipe(tap((f) => f.type === 'progress' && found(f.step)));
 */
export const watchedDeps = (request: TrainRequest, description: unknown, log: (m: string) => void) => {
  const base = trainDeps(log);
  let model: SdModel | undefined;
  let images: ImageFile[] = [];
  const deps: TrainDeps = {
    ...base,
    openModel: async (name, device) => (model = await base.openModel(name, device)),
    readImages: async (dir) => (images = await base.readImages(dir)),
  };
  const found = (startStep: number) => {
    const parsed = trainPipelineDescription.safeParse(description ?? {});
    const flipProbability =
      (parsed.success ? parsed.data.augment?.flipProbability : undefined) ?? request.flipProbability;
    log(
      `found ${describeTrainingData({ images, captions: request.captions, flipProbability, startStep, steps: request.steps })}`,
    );
    const few = fewImagesWarning(images.length);
    if (few) log(few);
    if (!model) return;
    // The prompts as training tokenizes them: the placeholder added as its vector tokens (see train-setup.ts).
    const tokenizer = copyTokenizer(model.tokenizer);
    const tokens = vectorTokens(request.token, request.vectors);
    tokenizer.addTokens(tokens);
    const prompt = (text: string) => fillTemplate(text, tokens.join(' '));
    if (request.captions)
      // (A mirrored image's caption swaps 'left' and 'right', one token each: it is cut where this one is.)
      for (const i of images)
        if (i.caption !== undefined) warnIfCut(log, tokenizer, `the caption of ${i.name}`, prompt(i.caption));
    if (request.validationPrompt) warnIfCut(log, tokenizer, '--validation-prompt', prompt(request.validationPrompt));
  };
  return { deps, found };
};
