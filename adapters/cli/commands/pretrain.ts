/**
 * `pseudoword pretrain`: trains the project's own `tiny` model on the procedural world with the project's
 * autodiff (VAE, then text encoder + UNet), streaming losses, checkpointing every N steps (resumable), and
 * writing the trained Optimum-layout folder plus a few sample images. The default recipe and seed reproduce
 * `weights/shipped/tiny/`.
 */
import { existsSync, readFileSync, appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { openGraph } from '../../graph-session.ts';
import { openModel } from '../../open-model.ts';
import { writeFileAtomic, writeFiles } from '../../fs.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../../pipeline/requests.ts';
import { PipelineError } from '../../../pipeline/errors.ts';
import { pretrain } from '../../../weights/pretrain/pretrain.ts';
import { defaultRecipe, scaleRecipe, type PretrainRecipe } from '../../../weights/pretrain/pretrain-config.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'pretrain',
  summary: "Train the default model 'tiny' from scratch on the procedural world (VAE, its decoder, then text encoder + UNet) with pseudoword's own autodiff.",
  usage: 'pretrain [--out weights/shipped/tiny] [--work .cache/pretrain] [--seed 0] [--resume] [options]',
  options: {
    out: { type: 'string', short: 'o', default: 'weights/shipped/tiny', arg: 'dir', help: 'where to write the trained model folder' },
    work: { type: 'string', default: '.cache/pretrain', arg: 'dir', help: 'checkpoints, loss log (loss.jsonl) and sample images' },
    seed: { type: 'string', default: String(defaultRecipe.seed), arg: 'n', help: 'seed of the weights, data, noise and batches' },
    scale: { type: 'string', default: '1', arg: 'f', help: 'multiply every step count (0.01 for a smoke run)' },
    'vae-steps': { type: 'string', arg: 'n', help: `VAE steps (default ${defaultRecipe.vae.steps})` },
    'diffusion-steps': { type: 'string', arg: 'n', help: `text encoder + UNet steps (default ${defaultRecipe.diffusion.steps})` },
    'decoder-steps': { type: 'string', arg: 'n', help: `VAE-decoder-only steps (default ${defaultRecipe.decoder.steps})` },
    dataset: { type: 'string', arg: 'n', help: `world scenes whose latents are cached (default ${defaultRecipe.datasetSize})` },
    'checkpoint-every': { type: 'string', default: '100', arg: 'n', help: 'checkpoint every N steps' },
    'log-every': { type: 'string', default: '10', arg: 'n', help: 'print the loss every N steps' },
    resume: { type: 'boolean', help: 'continue from the checkpoints in --work' },
    samples: { type: 'string', default: 'a red circle|a blue square on the left|a large yellow star on a plain black background|a small green triangle at the top', arg: 'p|p…', help: "prompts to render with the trained model into --work/samples ('' = none)" },
  },
};

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  let recipe: PretrainRecipe = scaleRecipe({ ...defaultRecipe, seed: num(v.seed, 'seed', { int: true })! }, num(v.scale, 'scale')!);
  const vs = num(v['vae-steps'], 'vae-steps', { int: true });
  const ds = num(v['diffusion-steps'], 'diffusion-steps', { int: true });
  const dn = num(v.dataset, 'dataset', { int: true });
  const dd = num(v['decoder-steps'], 'decoder-steps', { int: true });
  if (dd !== undefined) recipe = { ...recipe, decoder: { ...recipe.decoder, steps: dd, warmup: Math.min(recipe.decoder.warmup, dd >> 2) } };
  if (vs !== undefined) recipe = { ...recipe, vae: { ...recipe.vae, steps: vs, warmup: Math.min(recipe.vae.warmup, vs >> 2) } };
  if (ds !== undefined) recipe = { ...recipe, diffusion: { ...recipe.diffusion, steps: ds, warmup: Math.min(recipe.diffusion.warmup, ds >> 2) } };
  if (dn !== undefined) recipe = { ...recipe, datasetSize: dn };
  const work = resolve(v.work);
  const out = resolve(v.out);
  mkdirSync(work, { recursive: true });
  const ckpt = (phase: string) => join(work, `${phase}.ckpt`);
  const recipeFile = join(work, 'recipe.json');
  const resume: { vae?: Uint8Array; decoder?: Uint8Array; diffusion?: Uint8Array } = {};
  if (v.resume) {
    // A checkpoint continues only the run it came from: same seed, data and batch shapes. Step counts may change
    // (to stop a run early at its last checkpoint: --resume --diffusion-steps <that step>), which changes the
    // learning-rate schedule from there on, so it is reported.
    if (existsSync(recipeFile)) {
      const was = JSON.parse(readFileSync(recipeFile, 'utf8')) as PretrainRecipe;
      const shape = (r: PretrainRecipe) => JSON.stringify([r.seed, r.datasetSize, r.vae.batch, r.vae.beta, r.diffusion.batch, r.diffusion.captionDropout]);
      if (shape(was) !== shape(recipe))
        throw new PipelineError('bad_request', `the checkpoints in ${work} were made with another seed, dataset or batch size (${recipeFile}); run without --resume to start over`);
      if (JSON.stringify(was) !== JSON.stringify(recipe)) process.stderr.write(`resuming with a changed recipe (was ${JSON.stringify(was)})\n`);
    }
    for (const p of ['vae', 'decoder', 'diffusion'] as const) if (existsSync(ckpt(p))) resume[p] = new Uint8Array(readFileSync(ckpt(p)));
  } else for (const p of ['vae', 'decoder', 'diffusion']) rmSync(ckpt(p), { force: true });
  writeFileAtomic(recipeFile, JSON.stringify(recipe));
  const log = join(work, 'loss.jsonl');
  const every = num(v['log-every'], 'log-every', { int: true })!;
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const started = performance.now();
  let last = performance.now();
  for await (const e of pretrain({ recipe, open: (m) => openGraph(m, () => { throw new PipelineError('internal', 'pretraining graphs keep no external data'); }), resume, checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true }) })) {
    if (e.type === 'info') say(e.message);
    else if (e.type === 'checkpoint') writeFileAtomic(ckpt(e.phase), e.blob);
    else if (e.type === 'step') {
      const now = performance.now();
      appendFileSync(log, JSON.stringify({ phase: e.phase, step: e.step, loss: e.loss, ...e.terms, lr: e.lr, gradNorm: e.gradNorm, ms: Math.round(now - last) }) + '\n');
      if (e.step % every === 0 || e.step === e.of) {
        const terms = Object.entries(e.terms).map(([k, x]) => ` ${k} ${x.toPrecision(4)}`).join('');
        say(`${e.phase} ${e.step}/${e.of} loss ${e.loss.toPrecision(4)}${terms} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toPrecision(3)} ${Math.round(now - last)} ms/step`);
      }
      last = now;
    } else if (e.type === 'model') {
      rmSync(out, { recursive: true, force: true });
      writeFiles(out, e.files);
      say(`wrote ${out} after ${((performance.now() - started) / 60000).toFixed(1)} min`);
    }
  }
  const prompts = (v.samples as string).split('|').map((s) => s.trim()).filter(Boolean);
  for (const prompt of prompts) {
    const request = parseGenerateRequest({ model: out, prompt, steps: 50, guidance: 5, seed: 0 });
    await lastValueFrom(runGenerate(request, { openModel: (name, device) => openModel(name, device) }, {}).pipe(tap((f) => {
      if (f.type === 'image' && f.index === 0) writeFileAtomic(join(work, 'samples', `${slug(prompt)}.png`), f.png);
      if (f.type === 'error') throw new PipelineError('internal', f.message);
    })));
  }
  if (prompts.length) say(`samples in ${join(work, 'samples')}`);
  process.stdout.write(`${out}\n`);
};
