import { PipelineError } from '../../common/errors.ts';
import type { GenerateRequest } from '../../common/requests.ts';
import type { TrainRequestInput } from '../../common/train/train-request.ts';
import { loraFileName } from '../../weights/lora/lora-file.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { embeddingFileName } from '../../weights/training/checkpoint-files.ts';
import type { GenerateDeps } from '../generate.ts';
import type { TrainDeps } from '../train/run-train.ts';
import type { EvalConfig } from './eval-config.ts';
import { trainForEval } from './eval-train.ts';

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
  const files = await trainForEval(deps, cfg, { name, dir, init, vectors, out }, { method: 'pivotal', lora });
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
