/**
 * The paper's evaluation protocol in miniature (Gal et al. §5, Fig. 7): for each held-out concept, textual
 * inversion with 1 and several vectors against baselines — the initializer word alone, the best hand-written
 * caption, and the concept's own images as an upper bound on reconstruction — scored by the world's recogniser.
 *
 *   reconstruction = mean cosine similarity of recogniser features, samples of "a photo of a {}" × concept images
 *   identity       = mean probability the recogniser's object head gives the concept, samples of "a photo of a {}"
 *                    (and, as `identityInEdits`, over the samples of the other prompts: is it still the concept?)
 *   editability    = fraction of samples of the other prompts whose predicted attributes obey the prompt
 *
 * Reconstruction compares whole images, so a word that learns the examples' backgrounds scores for them; identity
 * reads only what the object is (the recogniser was trained on the concepts, under their names), so it is the
 * fairer measure of whether the concept came back. Identity is null for a concept the recogniser has no label for.
 *
 * DDIM with fixed seeds (sample k of every prompt and method uses seed + k), so methods see the same noise. With
 * `runs` > 1 the whole protocol repeats with seed + r·samples (a fresh inversion and fresh samples, disjoint seeds),
 * because one inversion's scores move a lot with its seed and a single run cannot tell variants apart.
 */
import { concatMap, filter, from, lastValueFrom, mergeMap, toArray } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { runGenerate, type GenerateDeps } from '../generate.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import { decodeImage } from '../../common/image/decode-image.ts';
import type { RgbaImage } from '../../common/image/image.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import type { TrainDeps } from '../train/run-train.ts';
import { evalMethods, methodRow, type EvalInversion, type EvalMethod } from './eval-methods.ts';
import type { Session } from '../../weights/session.ts';
import { parseCaption, type CaptionAttributes } from './caption.ts';
import { concepts } from './concepts.ts';
import { cosine, recognise, type Recognition } from './recognise.ts';
import { recogniserHeads } from './recogniser.ts';
import { evalPromptTemplates } from './vocabulary.ts';
import type { ConceptName } from './world.ts';

export interface EvalConfig {
  model: string;
  /** Concepts to evaluate: a name (its initializer and hand caption come from `concepts.ts` when known) and a folder of
   * images. */
  concepts: readonly { name: string; dir: string }[];
  /** Samples per prompt and method. */
  samples: number;
  /** Textual-inversion steps. */
  tiSteps: number;
  /** Vector counts to invert with, e.g. [1, 3]. */
  vectors: readonly number[];
  ddimSteps: number;
  guidance: number;
  lr: number;
  /** Train on the `.txt` captions beside the concept's images where there are (TrainRequest.captions). */
  captions?: boolean;
  /** Textual inversion's norm cap (TrainRequest.maxNormRatio); 0 or absent: none. */
  maxNormRatio?: number;
  seed: number;
  /** Repetitions of the protocol with disjoint seeds (1 unless told). */
  runs?: number;
  /** Folder for the embeddings (the adapter's path syntax; joined with '/'). */
  out: string;
  device: 'cpu' | 'cuda';
  /** Inversion methods to compare (eval-methods.ts): ['ti'] unless told. */
  methods?: readonly string[];
}

export interface EvalDeps {
  train: TrainDeps;
  generate: Required<Pick<GenerateDeps, 'openModel' | 'withEmbeddings'>>;
  recogniser: Session;
  log?: (message: string) => void;
  /** Methods besides (or instead of) the built-in ones, by name (eval-methods.ts). */
  methods?: Record<string, EvalMethod>;
}

/** One row of the results table. */
export interface EvalRow {
  concept: string;
  /** Which repetition (0 … runs − 1); the real-images bound is scored once, in run 0. */
  run: number;
  /** 'ti-1v', 'ti-3v' (other methods: 'dti-1v', 'p-plus-1v', …), 'init-word', 'hand-caption' or 'real-images'. */
  method: string;
  /** The word or phrase standing in for the concept in the prompts. */
  word: string;
  reconstruction: number;
  /** Mean object-head probability of the concept (null when the recogniser does not know the concept's name). */
  identity: number | null;
  /** The same over the edit prompts' samples: whether the concept survives being placed in new prompts (null for real
   * images). */
  identityInEdits: number | null;
  /** Null for the real-images bound (no prompt to obey). */
  editability: number | null;
  /** Editability per prompt template, in `evalPromptTemplates` order (null for 'a photo of a {}', which asks nothing;
   * empty for real images). */
  editabilityByPrompt: (number | null)[];
  /** Sample images per prompt template, in `evalPromptTemplates` order (empty for real images). */
  samples: RgbaImage[][];
}

/** The non-concept attributes a prompt template asks for (what editability checks). */
export const promptConstraints = (template: string): CaptionAttributes => parseCaption(template.replace('{}', 'S*'));

/**
 * Whether a recognition obeys a prompt's constraints.
 *
 * @example
 * obeys({ position: 'left' }, recognition); // recognition.labels.position === 'left'
 */
export const obeys = (c: CaptionAttributes, r: Recognition): boolean =>
  (c.colour === undefined || r.labels.colour === c.colour) &&
  (c.size === undefined || r.labels.size === c.size) &&
  (c.position === undefined || r.labels.position === c.position) &&
  (c.pattern === undefined || r.labels.pattern === c.pattern) &&
  (c.backgroundColour === undefined || r.labels.background === c.backgroundColour);

/** Mean over generated × reference pairs of the features' cosine similarity (self-pairs skipped when `same`). */
export const meanCosine = (a: readonly Recognition[], b: readonly Recognition[], same = false): number => {
  let sum = 0,
    n = 0;
  a.forEach((x, i) =>
    b.forEach((y, j) => {
      if (same && i === j) return;
      sum += cosine(x.features, y.features);
      n++;
    }),
  );
  return n ? sum / n : 0;
};

/**
 * Mean probability the object head gives `concept` (null when it is not one of the head's labels).
 *
 * @example
 * conceptIdentity(await recognise(session, images), 'bullseye'); // 0.4
 */
export const conceptIdentity = (rs: readonly Recognition[], concept: string): number | null => {
  const k = recogniserHeads.find((h) => h.name === 'object')!.labels.indexOf(concept);
  if (k < 0 || !rs.length) return null;
  return rs.reduce((sum, r) => sum + r.probabilities.object[k], 0) / rs.length;
};

/**
 * One prompt drawn to an RGBA image with a model already open: DDIM without previews or latent frames.
 *
 * @example
 * const image = await drawPrompt(model, { model: 'tiny', ddimSteps: 50, guidance: 5, device: 'cpu' }, 'a red circle',
 * 0);
 */
export const drawPrompt = (
  model: SdModel,
  cfg: { model: string; ddimSteps: number; guidance: number; device: 'cpu' | 'cuda' },
  prompt: string,
  seed: number,
): Promise<RgbaImage> =>
  lastValueFrom(
    runGenerate(
      parseGenerateRequest({
        model: cfg.model,
        prompt,
        steps: cfg.ddimSteps,
        guidance: cfg.guidance,
        seed,
        previewEvery: 0,
        device: cfg.device,
      }),
      { openModel: async () => model },
      { preview: { use: 'none' }, latentFrames: false },
    ).pipe(
      filter((f) => f.type === 'image' || f.type === 'error'),
      mergeMap(async (f) => {
        if (f.type === 'error') throw new PipelineError('internal', `generating '${prompt}': ${f.message}`);
        return decodeImage((f as { png: Uint8Array }).png, prompt) as Promise<RgbaImage>;
      }),
    ),
  );

const sampleImages = async (
  deps: EvalDeps,
  cfg: EvalConfig,
  learned: EvalInversion,
  word: string,
): Promise<RgbaImage[][]> => {
  const base = await deps.generate.openModel(cfg.model, cfg.device);
  const model = learned.load
    ? await learned.load(base)
    : learned.embeddings.length
      ? await deps.generate.withEmbeddings(base, learned.embeddings)
      : base;
  const out: RgbaImage[][] = [];
  for (const t of evalPromptTemplates) {
    const prompt = t.replace('{}', word);
    out.push(
      await lastValueFrom(
        from(Array.from({ length: cfg.samples }, (_, k) => cfg.seed + k)).pipe(
          concatMap((s) => drawPrompt(model, cfg, prompt, s)),
          toArray(),
        ),
      ),
    );
  }
  return out;
};

/**
 * The scores of one method's samples (one list per prompt template, the first 'a photo of a {}') against the
 * concept's own images.
 *
 * @example
 * const { reconstruction, identity, identityInEdits, editability } = scoreSamples(recognised, reference, 'bullseye');
 */
export const scoreSamples = (
  recognised: readonly (readonly Recognition[])[],
  reference: readonly Recognition[],
  concept: string,
) => {
  const obeying = recognised.map((rs, i) =>
    i === 0 ? null : rs.filter((r) => obeys(promptConstraints(evalPromptTemplates[i]), r)).length,
  );
  const edits = recognised.slice(1).reduce((n, rs) => n + rs.length, 0);
  return {
    reconstruction: meanCosine(recognised[0], reference),
    identity: conceptIdentity(recognised[0], concept),
    identityInEdits: conceptIdentity(recognised.slice(1).flat(), concept),
    editability: edits ? obeying.reduce<number>((n, k) => n + (k ?? 0), 0) / edits : 0,
    editabilityByPrompt: obeying.map((k, i) => (k === null ? null : k / Math.max(1, recognised[i].length))),
  };
};

/**
 * Runs the protocol and returns one row per concept and method.
 *
 * @example
 * const rows = await runEval({ model: 'tiny', concepts: [{ name: 'bullseye', dir }], samples: 2, tiSteps: 3,
 *   vectors: [1], ddimSteps: 3, guidance: 5, lr: 5e-3, seed: 0, out, device: 'cpu' }, deps);
 */
export const runEval = async (cfg: EvalConfig, deps: EvalDeps): Promise<EvalRow[]> => {
  const log = deps.log ?? (() => {});
  const rows: EvalRow[] = [];
  for (const { name, dir } of cfg.concepts) {
    const known = (concepts as Record<string, (typeof concepts)[ConceptName]>)[name];
    const init = known?.initializer ?? 'object';
    const files = await deps.train.readImages(dir);
    if (!files.length) throw new PipelineError('not_found', `concept '${name}': no images in '${dir}'`);
    const real = await Promise.all(files.map((f) => decodeImage(f.bytes, f.name) as Promise<RgbaImage>));
    const reference = await recognise(deps.recogniser, real);
    rows.push({
      concept: name,
      run: 0,
      method: 'real-images',
      word: '(its own images)',
      reconstruction: meanCosine(reference, reference, true),
      identity: conceptIdentity(reference, name),
      identityInEdits: null,
      editability: null,
      editabilityByPrompt: [],
      samples: [],
    });
    const runs = cfg.runs ?? 1;
    for (let run = 0; run < runs; run++) {
      const rcfg = { ...cfg, seed: cfg.seed + run * cfg.samples };
      const of = runs > 1 ? ` (run ${run + 1} of ${runs}, seed ${rcfg.seed})` : '';
      const methods: ({ method: string } & EvalInversion)[] = [];
      const available = { ...evalMethods, ...deps.methods };
      for (const method of cfg.methods ?? ['ti'])
        for (const v of cfg.vectors) {
          log(`${name}: ${method}, ${v} vector${v > 1 ? 's' : ''}, ${cfg.tiSteps} steps${of}`);
          const invert = available[method];
          if (!invert) throw new PipelineError('bad_request', `methods: unknown inversion method '${method}'`);
          const learned = await invert({ train: deps.train, cfg: rcfg, name, dir, init, vectors: v });
          methods.push({ method: methodRow(method, v), ...learned });
        }
      methods.push({ method: 'init-word', word: init, embeddings: [] });
      methods.push({ method: 'hand-caption', word: known?.handCaption ?? init, embeddings: [] });
      for (const m of methods) {
        log(`${name}: sampling ${m.method} ('${m.word}')${of}`);
        const samples = await sampleImages(deps, rcfg, m, m.word);
        const recognised = await Promise.all(samples.map((s) => recognise(deps.recogniser, s)));
        const scores = scoreSamples(recognised, reference, name);
        const { load: _, ...shown } = m;
        rows.push({ concept: name, run, ...shown, ...scores, samples });
      }
    }
  }
  return rows;
};
