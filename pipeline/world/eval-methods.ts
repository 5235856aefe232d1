/**
 * The inversion methods `eval --methods` compares: each learns a word for a concept and says how to draw with it.
 * `ti`, `dti` and `p-plus` train through the inversion slot of the training pipeline (weights/methods/) with the
 * same request otherwise; a method that needs more than embedding files to draw (pivotal tuning's LoRA) supplies
 * `load`, and registers itself in `evalMethods` (or is passed in `EvalDeps.methods`).
 */
import { filter, lastValueFrom, map } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { parseTrainRequest } from '../../common/train/train-request.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { runTrain, type TrainDeps } from '../train/run-train.ts';
import type { EvalConfig } from './eval.ts';

/** What a method learned: the word to put in prompts, its files, and (optionally) how to load them. */
export interface EvalInversion {
  word: string;
  embeddings: string[];
  /** Loads what was learned into the base model; default: the embedding files, as `generate --embeddings`. */
  load?(base: SdModel): Promise<SdModel>;
}

/** One inversion to run: a concept's images, its initializer word, and the vectors per token. */
export interface InvertJob {
  train: TrainDeps;
  cfg: EvalConfig;
  name: string;
  dir: string;
  init: string;
  vectors: number;
}

export type EvalMethod = (job: InvertJob) => Promise<EvalInversion>;

/** The row name of a method's results: `ti-1v`, `dti-3v`, `p-plus-1v`, … */
export const methodRow = (method: string, vectors: number) => `${method}-${vectors}v`;

/** Trains with one of the training pipeline's inversion methods and returns its embedding file. */
const slotMethod =
  (method: 'ti' | 'dti' | 'p-plus'): EvalMethod =>
  async ({ train, cfg, name, dir, init, vectors }) => {
    const token = `<${name}>`;
    const tag = method === 'ti' ? '' : `-${method}`;
    const out = `${cfg.out}/embeddings/${name}-${vectors}v${tag}${(cfg.runs ?? 1) > 1 ? `-seed${cfg.seed}` : ''}`;
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
      method,
    });
    const files = await lastValueFrom(
      runTrain(request, train).pipe(
        filter((f) => f.type === 'checkpoint' || f.type === 'error'),
        map((f) => {
          if (f.type === 'error') throw new PipelineError('internal', `inverting ${name}: ${f.message}`);
          return (f as { files: string[] }).files;
        }),
      ),
    );
    const file =
      files.find((f) => f.endsWith('learned_embeds.safetensors')) ?? files.find((f) => f.endsWith('.safetensors'));
    if (!file)
      throw new PipelineError('internal', `inverting ${name} wrote no embedding file (got ${files.join(', ')})`);
    return { word: token, embeddings: [file] };
  };

/**
 * Every method `eval --methods` knows. `pivotal` (textual inversion + a LoRA on the UNet's attention) is listed
 * once its trainer is in the build: it adds its entry here, with a `load` that applies its LoRA.
 */
export const evalMethods: Record<string, EvalMethod> = {
  ti: slotMethod('ti'),
  dti: slotMethod('dti'),
  'p-plus': slotMethod('p-plus'),
};

/** The methods named, checked against the known ones. @throws PipelineError('bad_request') naming the unknown one. */
export const pickMethods = (names: readonly string[], known: Record<string, EvalMethod> = evalMethods): string[] => {
  for (const n of names)
    if (!known[n])
      throw new PipelineError(
        'bad_request',
        `methods: unknown inversion method '${n}' (known: ${Object.keys(known).join(', ')})`,
        { field: 'methods' },
      );
  return [...new Set(names)];
};
