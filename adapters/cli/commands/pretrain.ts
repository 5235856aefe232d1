/**
 * `pseudoword pretrain`: trains the project's own `tiny` model on the procedural world with the project's
 * autodiff (VAE, then text encoder + UNet), streaming losses, checkpointing every N steps (resumable), and
 * writing the trained Optimum-layout folder plus a few sample images. The default recipe and seed reproduce
 * `weights/shipped/tiny/`.
 */
import { join, resolve } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { pretrainJob } from '../../pretrain-job.ts';
import { phaseStart } from '../../../pipeline/pretrain/pretrain-frames.ts';
import type { Phase } from '../../../pipeline/pretrain/train-loop.ts';
import { defaultRecipe } from '../../../pipeline/pretrain/pretrain-config.ts';
import { defaultSamplePrompts, parsePretrainRequest, recipeOf } from '../../../pipeline/pretrain/pretrain-request.ts';
import { fromFlags, helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'pretrain',
  summary:
    "Train the default model 'tiny' from scratch on the procedural world (VAE, its decoder, then text encoder + UNet) with pseudoword's own autodiff.",
  usage: 'pretrain [--out weights/shipped/tiny] [--work .cache/pretrain] [--seed 0] [--resume] [options]',
  options: {
    out: {
      type: 'string',
      short: 'o',
      default: 'weights/shipped/tiny',
      arg: 'dir',
      help: 'where to write the trained model folder',
    },
    work: {
      type: 'string',
      default: '.cache/pretrain',
      arg: 'dir',
      help: 'checkpoints, loss log (loss.jsonl) and sample images',
    },
    seed: {
      type: 'string',
      default: String(defaultRecipe.seed),
      arg: 'n',
      help: 'seed of the weights, data, noise and batches',
    },
    scale: { type: 'string', default: '1', arg: 'f', help: 'multiply every step count (0.01 for a smoke run)' },
    'vae-steps': { type: 'string', arg: 'n', help: `VAE steps (default ${defaultRecipe.vae.steps})` },
    'diffusion-steps': {
      type: 'string',
      arg: 'n',
      help: `text encoder + UNet steps (default ${defaultRecipe.diffusion.steps})`,
    },
    'decoder-steps': {
      type: 'string',
      arg: 'n',
      help: `VAE-decoder-only steps (default ${defaultRecipe.decoder.steps})`,
    },
    dataset: {
      type: 'string',
      arg: 'n',
      help: `world scenes whose latents are cached (default ${defaultRecipe.datasetSize})`,
    },
    'checkpoint-every': { type: 'string', default: '100', arg: 'n', help: 'checkpoint every N steps' },
    'log-every': { type: 'string', default: '10', arg: 'n', help: 'print the loss every N steps' },
    resume: { type: 'boolean', help: 'continue from the checkpoints in --work' },
    samples: {
      type: 'string',
      default: defaultSamplePrompts.join('|'),
      arg: 'p|p…',
      help: "prompts to render with the trained model into --work/samples ('' = none)",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const request = fromFlags(spec, () =>
    parsePretrainRequest({
      seed: num(v.seed, 'seed', { int: true }),
      scale: num(v.scale, 'scale'),
      vaeSteps: num(v['vae-steps'], 'vae-steps', { int: true }),
      decoderSteps: num(v['decoder-steps'], 'decoder-steps', { int: true }),
      diffusionSteps: num(v['diffusion-steps'], 'diffusion-steps', { int: true }),
      dataset: num(v.dataset, 'dataset', { int: true }),
      checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true }),
      resume: Boolean(v.resume),
      samples: (v.samples as string)
        .split('|')
        .map((s) => s.trim())
        .filter(Boolean),
    }),
  );
  const recipe = recipeOf(request);
  const [out, work] = [resolve(v.out), resolve(v.work)];
  const every = num(v['log-every'], 'log-every', { int: true })!;
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const started = performance.now();
  let last = performance.now();
  await lastValueFrom(
    pretrainJob(request, { out, work }, say, 'pretrain').pipe(
      tap((f) => {
        if (f.type === 'loss' && f.phase) {
          const now = performance.now();
          const phase = f.phase as Phase;
          const step = f.step - phaseStart(recipe, phase);
          const of = recipe[phase].steps;
          if (step % every === 0 || step === of) {
            const terms = Object.entries(f.terms ?? {})
              .map(([k, x]) => ` ${k} ${x.toPrecision(4)}`)
              .join('');
            say(
              `${f.phase} ${step}/${of} loss ${f.loss.toPrecision(4)}${terms} lr ${f.lr.toExponential(2)} |g| ${f.gradNorm.toPrecision(3)} ${Math.round(now - last)} ms/step`,
            );
          }
          last = now;
        }
        if (f.type === 'validation') say(`samples in ${join(work, 'samples')}`);
        if (f.type === 'done') say(`wrote ${out} after ${((performance.now() - started) / 60000).toFixed(1)} min`);
      }),
    ),
  );
  process.stdout.write(`${out}\n`);
};
