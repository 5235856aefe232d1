import { lastValueFrom, tap, toArray } from 'rxjs';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { runTrain } from '../../../pipeline/train/run-train.ts';
import { parseTrainRequest } from '../../../common/train/train-request.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../../common/requests.ts';
import { decodePng, encodePng } from '../../../common/image/png.ts';
import { tileGrid } from '../../../common/image/image.ts';
import { concepts } from '../../../pipeline/world/concepts.ts';
import { evalPromptTemplates } from '../../../pipeline/world/vocabulary.ts';
import { PipelineError } from '../../../common/errors.ts';
import { trainDeps } from '../../train-deps.ts';
import { openModel } from '../../open-model.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { projectRoot } from '../../project-paths.ts';
import { writeFileAtomic } from '../../fs.ts';
import { fromFlags, helpText, num, parse, type CommandSpec } from '../args.ts';
import { progressBar } from '../progress-bar.ts';

// The concepts whose example images are in the tree: the world defines more (for eval), but the demo trains on
// these folders, so --help offers only what `--concept` accepts.
const available = Object.keys(concepts).filter((k) => existsSync(join(projectRoot, 'examples', 'concepts', k)));

export const spec: CommandSpec = {
  name: 'demo',
  summary: 'The main job on the embedded model: learn a word for an example concept, then draw it in new prompts.',
  usage: 'demo [--concept ringed-star] [--steps 400] [--out out/demo]',
  options: {
    concept: {
      type: 'string',
      default: 'ringed-star',
      arg: 'name',
      help: `an example under examples/concepts/ (${available.join(', ')})`,
    },
    steps: { type: 'string', default: '400', arg: 'n', help: 'textual-inversion steps' },
    vectors: { type: 'string', default: '1', arg: 'n', help: 'vectors for the new word' },
    lr: { type: 'string', default: '0.005', arg: 'x', help: 'textual-inversion learning rate' },
    'max-norm-ratio': {
      type: 'string',
      default: '0',
      arg: 'x',
      help: "keep the word's norm ≤ x × its initializer's (0 = off)",
    },
    templates: {
      type: 'boolean',
      help: "train with the reference prompt templates ('a photo of a {}', …) instead of the captions beside the example images",
    },
    seeds: { type: 'string', default: '3', arg: 'n', help: 'samples per prompt in the grid' },
    model: { type: 'string', default: 'tiny', arg: 'dir|tiny', help: 'model folder or tiny' },
    out: { type: 'string', short: 'o', default: 'out/demo', arg: 'dir', help: 'output folder' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const concept = (concepts as Record<string, (typeof concepts)[keyof typeof concepts]>)[v.concept];
  const images = join(projectRoot, 'examples', 'concepts', v.concept);
  if (!concept || !existsSync(images))
    throw new PipelineError('bad_request', `--concept must be one of ${available.join(', ')}`);
  const token = `<${concept.name}>`;
  const out = resolve(v.out);
  const steps = num(v.steps, 'steps', { int: true, min: 1 })!;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  log(`learning ${token} from ${images} (initialised from '${concept.initializer}')`);
  const bar = progressBar('training');
  const request = fromFlags(spec, () =>
    parseTrainRequest({
      model: v.model,
      images,
      token,
      init: concept.initializer,
      vectors: num(v.vectors, 'vectors', { int: true, min: 1 }),
      steps,
      batch: 4,
      lr: num(v.lr, 'lr', { min: 0 })!,
      maxNormRatio: num(v['max-norm-ratio'], 'max-norm-ratio', { min: 0 })!,
      captions: !v.templates,
      validateEvery: Math.max(1, Math.floor(steps / 4)),
      validationImages: 2,
      validationSteps: 20,
      saveEvery: 0,
      out,
      seed: 0,
    }),
  );
  await lastValueFrom(
    runTrain(request, trainDeps(log)).pipe(
      tap((f) => {
        if (f.type === 'loss') bar.update(f.step, steps, `loss ${f.loss.toFixed(4)}`);
        if (f.type === 'validation') log(`\nstep ${f.step}: validation loss ${f.loss?.toFixed(5)}`);
      }),
    ),
  );
  bar.done();
  const embedding = join(out, 'learned_embeds.safetensors');
  // The grid: one row per prompt (the concept in new contexts), one column per seed.
  const seeds = num(v.seeds, 'seeds', { int: true, min: 1 })!;
  const prompts = evalPromptTemplates.map((t) => t.replace('{}', token));
  const cells = [];
  const gen = progressBar('drawing');
  for (const [i, prompt] of prompts.entries()) {
    for (let seed = 0; seed < seeds; seed++) {
      const frames = await lastValueFrom(
        runGenerate(
          parseGenerateRequest({ model: v.model, prompt, steps: 50, seed, embeddings: [embedding] }),
          {
            openModel: (n, d) => openModel(n, d, log),
            withEmbeddings: loadEmbeddingsInto,
          },
          { preview: { use: 'none' }, latentFrames: false },
        ).pipe(toArray()),
      );
      const img = frames.find((f) => f.type === 'image');
      if (img?.type === 'image') cells.push(await decodePng(img.png));
      gen.update(i * seeds + seed + 1, prompts.length * seeds);
    }
  }
  gen.done();
  const grid = tileGrid(cells, seeds, { gap: 2, background: [255, 255, 255, 255] });
  const gridPath = join(out, 'grid.png');
  writeFileAtomic(
    gridPath,
    await encodePng({
      width: grid.width,
      height: grid.height,
      channels: 4,
      data: new Uint8Array(grid.data.buffer, grid.data.byteOffset, grid.data.byteLength),
    }),
  );
  log(`rows: ${prompts.join(' | ')}`);
  process.stdout.write(`${embedding}\n${gridPath}\n`);
};
