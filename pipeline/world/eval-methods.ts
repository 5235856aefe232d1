import { PipelineError } from '../../common/errors.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import type { TrainDeps } from '../train/run-train.ts';
import type { GenerateDeps } from '../generate.ts';
import type { EvalConfig } from './eval-config.ts';
import { trainForEval } from './eval-train.ts';
import { learnPivotal, pivotalModel } from './pivotal-method.ts';

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
  /** How eval draws (a method's `load` uses its loaders, e.g. pivotal's LoRA). */
  generate: GenerateDeps;
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
    const files = await trainForEval(train, cfg, { name, dir, init, vectors, out }, { method });
    const file =
      files.find((f) => f.endsWith('learned_embeds.safetensors')) ?? files.find((f) => f.endsWith('.safetensors'));
    if (!file)
      throw new PipelineError('internal', `inverting ${name} wrote no embedding file (got ${files.join(', ')})`);
    return { word: token, embeddings: [file] };
  };

/** Pivotal tuning (pivotal-method.ts): the word and a LoRA, drawn with both loaded. */
const pivotalMethod: EvalMethod = async ({ train, generate, cfg, name, dir, init, vectors }) => {
  const { withEmbeddings, withLora } = generate;
  if (!withEmbeddings || !withLora)
    throw new PipelineError('bad_request', 'methods: pivotal needs a generator that loads embeddings and LoRA files');
  const learned = await learnPivotal(train, cfg, name, dir, init, vectors);
  return {
    word: learned.token,
    embeddings: [learned.embedding],
    load: (base) => pivotalModel(base, learned, { withEmbeddings, withLora }),
  };
};

/** Every method `eval --methods` knows. */
export const evalMethods: Record<string, EvalMethod> = {
  ti: slotMethod('ti'),
  dti: slotMethod('dti'),
  'p-plus': slotMethod('p-plus'),
  pivotal: pivotalMethod,
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
