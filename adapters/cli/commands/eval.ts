import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listFiles, writeFiles } from '../../fs.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { openModel } from '../../open-model.ts';
import { ortSessionFactory } from '../../ort-session.ts';
import { projectRoot } from '../../project-paths.ts';
import { trainDeps } from '../../train-deps.ts';
import { PipelineError } from '../../../common/errors.ts';
import { runEval } from '../../../pipeline/world/eval.ts';
import { evalMethods, pickMethods } from '../../../pipeline/world/eval-methods.ts';
import { drawingTable, evalJson, evalTable, samplesGridPng, tradeoffSvg } from '../../../pipeline/world/eval-report.ts';
import { measureDrawing } from '../../../pipeline/world/drawing-quality.ts';
import { tileGrid } from '../../../common/image/image.ts';
import { encodePng } from '../../../common/image/png.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

const examplesDir = join(projectRoot, 'examples', 'concepts');
const shippedRecogniser = join(projectRoot, 'weights', 'shipped', 'recogniser', 'model.onnx');

export const spec: CommandSpec = {
  name: 'eval',
  summary:
    "The paper's protocol in miniature: textual inversion vs baselines on held-out concepts, scored by the world's recogniser.",
  usage:
    'eval [--model tiny|<dir>] [--concepts name,…|<dir>,…] [--methods ti,dti,p-plus] [--samples 8] [--steps 500] [--ddim-steps 50] [--runs 1] [--out out/eval]\n       eval --drawing [--prompts 64] [--model tiny|<dir>] [--out out/eval]',
  options: {
    model: { type: 'string', default: 'tiny', arg: 'dir|tiny', help: "model folder (Optimum ONNX layout) or 'tiny'" },
    concepts: {
      type: 'string',
      arg: 'list',
      help: 'comma-separated concept names under examples/concepts, or image folders (default: all of examples/concepts)',
    },
    samples: { type: 'string', default: '8', arg: 'n', help: 'samples per prompt and method' },
    steps: { type: 'string', default: '500', arg: 'n', help: 'textual-inversion steps' },
    vectors: { type: 'string', default: '1,3', arg: 'list', help: 'vector counts to invert with' },
    methods: {
      type: 'string',
      default: 'ti',
      arg: 'list',
      help: `inversion methods to compare, comma-separated (${Object.keys(evalMethods).join(', ')})`,
    },
    'ddim-steps': { type: 'string', default: '50', arg: 'n', help: 'DDIM steps per sample' },
    guidance: { type: 'string', default: '5', arg: 'g', help: 'classifier-free guidance scale' },
    lr: { type: 'string', default: '0.005', help: 'textual-inversion learning rate' },
    captions: {
      type: 'boolean',
      help: "invert on the .txt captions beside the concept's images instead of the paper's templates ('a photo of a {}', …)",
    },
    'max-norm-ratio': {
      type: 'string',
      default: '0',
      help: "textual inversion's norm cap: each vector ≤ x × its initializer's norm (0 = off)",
    },
    seed: { type: 'string', default: '0', help: 'seed of inversion and of sample 0 (sample k uses seed + k)' },
    runs: {
      type: 'string',
      default: '1',
      arg: 'n',
      help: "repeat the protocol n times with disjoint seeds (run r: seed + r × samples) and report each run's mean beside the overall one",
    },
    recogniser: { type: 'string', arg: 'file.onnx', help: 'recogniser model (default: the shipped one)' },
    device: { type: 'string', default: 'cpu', arg: 'cpu|cuda', help: 'where the diffusion model runs' },
    out: {
      type: 'string',
      short: 'o',
      default: 'out/eval',
      arg: 'folder',
      help: 'where the table, plot, grid and embeddings go',
    },
    drawing: {
      type: 'boolean',
      help: "instead: the model's quality bar — recogniser agreement per attribute on random world prompts, against real scenes, real scenes through the VAE and chance",
    },
    prompts: { type: 'string', default: '64', arg: 'n', help: 'world prompts for --drawing' },
  },
};

const conceptFolders = (list?: string): { name: string; dir: string }[] => {
  const entries = list
    ? list
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : existsSync(examplesDir)
      ? listFiles(examplesDir).filter((f) => statSync(join(examplesDir, f)).isDirectory())
      : [];
  if (!entries.length)
    throw new PipelineError(
      'not_found',
      `no concepts: pass --concepts or run 'pseudoword write-examples' to fill ${examplesDir}`,
    );
  return entries.map((e) => {
    const dir = existsSync(join(examplesDir, e)) ? join(examplesDir, e) : resolve(e);
    if (!existsSync(dir))
      throw new PipelineError('not_found', `concept '${e}': neither ${join(examplesDir, e)} nor a folder`);
    return { name: dir.split(/[\\/]/).filter(Boolean).pop()!, dir };
  });
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const device = v.device === 'cuda' ? 'cuda' : 'cpu';
  const out = resolve(v.out);
  const recogniserPath = v.recogniser ? resolve(v.recogniser) : shippedRecogniser;
  if (!existsSync(recogniserPath))
    throw new PipelineError('not_found', `no recogniser at ${recogniserPath}: run 'pseudoword train-recogniser'`);
  const recogniser = await ortSessionFactory.create(new Uint8Array(readFileSync(recogniserPath)));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const vectors = String(v.vectors)
    .split(',')
    .map((s) => num(s.trim(), 'vectors', { int: true, min: 1 })!);
  try {
    if (v.drawing) {
      const q = await measureDrawing(
        {
          model: v.model,
          prompts: num(v.prompts, 'prompts', { int: true, min: 1 })!,
          guidance: num(v.guidance, 'guidance', { min: 0 })!,
          ddimSteps: num(v['ddim-steps'], 'ddim-steps', { int: true, min: 1 })!,
          seed: num(v.seed, 'seed', { int: true, min: 0 })!,
          device,
        },
        { openModel: (name, d) => openModel(name, d, log), recogniser, log },
      );
      const table = drawingTable(q);
      const grid = tileGrid(q.images, 8, { gap: 2, background: [255, 255, 255, 255] });
      const { images: _, scenes: __, ...rates } = q;
      writeFiles(out, {
        'drawing.txt': table,
        'drawing.json': JSON.stringify(rates, null, 1),
        'drawing.png': await encodePng({
          width: grid.width,
          height: grid.height,
          channels: 4,
          data: new Uint8Array(grid.data.buffer, grid.data.byteOffset, grid.data.byteLength),
        }),
      });
      process.stdout.write(table);
      process.stderr.write(
        `wrote ${['drawing.txt', 'drawing.json', 'drawing.png'].map((f) => join(out, f)).join(', ')}\n`,
      );
      return;
    }
    const rows = await runEval(
      {
        model: v.model,
        concepts: conceptFolders(v.concepts),
        samples: num(v.samples, 'samples', { int: true, min: 1 })!,
        tiSteps: num(v.steps, 'steps', { int: true, min: 1 })!,
        vectors,
        methods: pickMethods(
          String(v.methods)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        ),
        ddimSteps: num(v['ddim-steps'], 'ddim-steps', { int: true, min: 1 })!,
        guidance: num(v.guidance, 'guidance', { min: 0 })!,
        lr: num(v.lr, 'lr', { min: 0 })!,
        maxNormRatio: num(v['max-norm-ratio'], 'max-norm-ratio', { min: 0 })!,
        captions: !!v.captions,
        seed: num(v.seed, 'seed', { int: true, min: 0 })!,
        runs: num(v.runs, 'runs', { int: true, min: 1 })!,
        out,
        device,
      },
      {
        train: trainDeps(log),
        recogniser,
        log,
        generate: { openModel: (name, d) => openModel(name, d, log), withEmbeddings: loadEmbeddingsInto },
      },
    );
    const table = evalTable(rows);
    const files = {
      'table.txt': table,
      'results.json': evalJson(rows),
      'tradeoff.svg': tradeoffSvg(rows),
      'tradeoff-identity.svg': tradeoffSvg(rows, 'identity'),
      'samples.png': await samplesGridPng(rows),
    };
    writeFiles(out, files);
    process.stdout.write(table);
    process.stderr.write(
      `wrote ${Object.keys(files)
        .map((f) => join(out, f))
        .join(', ')}\n`,
    );
  } finally {
    await recogniser.release();
  }
};
