/**
 * Pivotal tuning as one method of `eval` (the `--methods` table compares it with ti, dti and p-plus): learn a
 * concept's word and LoRA with the same settings eval gives textual inversion, and give back the model that draws
 * with both. Two calls, so eval can train once per run and sample as often as it likes:
 *
 *   const learned = await learnPivotal(deps.train, rcfg, name, dir, init, vectors);
 *   const model = await pivotalModel(base, learned, deps.generate);   // then drawPrompt(model, …) as for ti
 */
import { filter, lastValueFrom, map } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import type { GenerateRequest } from '../../common/requests.ts';
import { parseTrainRequest, type TrainRequestInput } from '../../common/train/train-request.ts';
import { loraFileName } from '../../weights/lora/lora-file.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { embeddingFileName } from '../../weights/training/checkpoint-files.ts';
import type { GenerateDeps } from '../generate.ts';
import { runTrain, type TrainDeps } from '../train/run-train.ts';
import type { EvalConfig } from './eval-config.ts';

/** What a pivotal run left: the placeholder word, its embedding file and its LoRA file. */
export interface PivotalConcept {
  token: string;
  embedding: string;
  lora: string;
}

/** The LoRA's settings (eval's defaults: rank 4, alpha = rank, the last half of the run, lr 1e-4). */
export type PivotalSettings = NonNullable<TrainRequestInput['lora']>;

/**
 * Trains `<name>` on the images in `dir` by pivotal tuning, with eval's steps, lr, seed, captions and norm cap.
 * @throws PipelineError('internal') naming the concept when the run fails or writes no files.
 */
export const learnPivotal = async (
  deps: TrainDeps,
  cfg: EvalConfig,
  name: string,
  dir: string,
  init: string,
  vectors: number,
  lora: PivotalSettings = {},
): Promise<PivotalConcept> => {
  const token = `<${name}>`;
  const out = `${cfg.out}/pivotal/${name}-${vectors}v${(cfg.runs ?? 1) > 1 ? `-seed${cfg.seed}` : ''}`;
  const request = parseTrainRequest({
    model: cfg.model,
    images: dir,
    token,
    init,
    vectors,
    steps: cfg.tiSteps,
    lr: cfg.lr,
    maxNormRatio: cfg.maxNormRatio ?? 0,
    captions: cfg.captions ?? false,
    seed: cfg.seed,
    out,
    device: cfg.device,
    validateEvery: 0,
    previewEvery: 0,
    saveEvery: 0,
    validationImages: 0,
    method: 'pivotal',
    lora,
  });
  const files = await lastValueFrom(
    runTrain(request, deps).pipe(
      filter((f) => f.type === 'checkpoint' || f.type === 'error'),
      map((f) => {
        if (f.type === 'error') throw new PipelineError('internal', `pivotal tuning of ${name}: ${f.message}`);
        return (f as { files: string[] }).files;
      }),
    ),
  );
  const embedding = files.find((f) => f.endsWith(embeddingFileName));
  const loraFile = files.find((f) => f.endsWith(loraFileName));
  if (!embedding || !loraFile)
    throw new PipelineError('internal', `pivotal tuning of ${name} wrote ${files.join(', ')}, not both files`);
  return { token, embedding, lora: loraFile };
};

/** The base model with the concept's word and its LoRA (scale 1) loaded, ready for `drawPrompt`. */
export const pivotalModel = async (
  base: SdModel,
  c: PivotalConcept,
  deps: Required<Pick<GenerateDeps, 'withEmbeddings' | 'withLora'>>,
): Promise<SdModel> => {
  const lora: GenerateRequest['lora'] = [{ file: c.lora, scale: 1 }];
  return deps.withLora(await deps.withEmbeddings(base, [c.embedding]), lora);
};
