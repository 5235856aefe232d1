import { lastValueFrom, tap } from 'rxjs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runTrain } from '../../../pipeline/train/run-train.ts';
import { parseTrainRequest } from '../../../common/train/train-request.ts';
import { fromFlags, helpText, num, parse, withFlagName, type CommandSpec } from '../args.ts';
import { prepareOut } from '../existing-run.ts';
import { progressBar } from '../progress-bar.ts';
import { stopOnSignals } from '../stop-on-signals.ts';
import { watchedDeps } from '../watched-train-deps.ts';

export const spec: CommandSpec = {
  name: 'train',
  summary: 'Learn a new word (textual inversion) for the concept in a few images; streams progress, saves embeddings.',
  usage: 'train --images <dir> --token "<name>" --init <word> [--model tiny|tiny-xl|<dir>] [options]',
  options: {
    model: {
      type: 'string',
      default: 'tiny',
      arg: 'dir|tiny|tiny-xl',
      help: "model folder (Optimum ONNX layout) or 'tiny'/'tiny-xl'. On SDXL both text encoders learn the token (one vector set each, from --init in each table) and the UNet gets time_ids per image: original size before resize/crop, the crop's top-left, target size = --resolution",
    },
    images: {
      type: 'string',
      arg: 'dir',
      help: 'folder of 3–5 images of the concept (PNG, JPEG, WebP; name.txt captions optional)',
    },
    token: { type: 'string', arg: 'name', help: 'the new placeholder word, e.g. "<cat-toy>"' },
    init: { type: 'string', arg: 'word', help: 'a word or phrase the vectors start from, e.g. "toy"' },
    vectors: { type: 'string', default: '1', arg: 'n', help: 'vectors per token (tokens tok, tok_1, …)' },
    steps: { type: 'string', default: '3000', arg: 'n', help: 'optimizer steps' },
    lr: { type: 'string', default: '0.005', arg: 'x', help: 'learning rate' },
    'scale-lr': { type: 'boolean', help: 'multiply lr by batch × accumulate' },
    schedule: { type: 'string', default: 'constant', arg: 'kind', help: 'constant | linear | cosine' },
    warmup: { type: 'string', default: '0', arg: 'n', help: 'warmup steps' },
    batch: { type: 'string', default: '1', arg: 'n', help: 'images per step' },
    accumulate: { type: 'string', default: '1', arg: 'n', help: 'gradient accumulation steps' },
    'weight-decay': { type: 'string', default: '0', arg: 'x', help: 'AdamW weight decay' },
    'clip-grad-norm': { type: 'string', default: '0', arg: 'x', help: 'clip the gradient norm (0 = off)' },
    'max-norm-ratio': {
      type: 'string',
      default: '0',
      arg: 'x',
      help: "keep each learned vector's norm ≤ x × its initializer's (0 = off)",
    },
    method: {
      type: 'string',
      default: 'ti',
      arg: 'name',
      help: 'inversion method: ti (textual inversion) | dti (direction only, norm held at the vocabulary mean) | p-plus (one vector set per cross-attention layer) | pivotal (the vectors plus a LoRA on the UNet, lora.safetensors beside the embedding; --lora-*)',
    },
    'early-stop': {
      type: 'string',
      default: '0',
      arg: 'n',
      help: 'stop when the validation loss has not improved for n validation rounds, keeping the best step (0 = off)',
    },
    'min-snr-gamma': { type: 'string', default: '0', arg: 'γ', help: 'min-SNR loss weighting (0 = off)' },
    resolution: { type: 'string', arg: 'px', help: "training resolution (default: the model's)" },
    property: { type: 'string', default: 'object', arg: 'kind', help: 'object | style (which prompt templates)' },
    captions: { type: 'boolean', help: 'use name.txt captions beside the images instead of templates' },
    repeats: {
      type: 'string',
      default: '100',
      arg: 'n',
      help: 'dataset repeats (kept for parity with other trainers)',
    },
    'validate-every': {
      type: 'string',
      default: '100',
      arg: 'n',
      help: 'validation loss + images every N steps (0 = off)',
    },
    'validation-prompt': { type: 'string', arg: 'text', help: 'prompt for validation images ({} = the token)' },
    'save-every': {
      type: 'string',
      default: '100',
      arg: 'n',
      help: 'checkpoint every N steps (0 = only at the end); Ctrl-C also saves the step it stops at',
    },
    layout: {
      type: 'string',
      default: 'diffusers',
      arg: 'kind',
      help: 'embedding file layout: diffusers | kohya | a1111 (SDXL always writes {clip_l, clip_g})',
    },
    seed: { type: 'string', default: '0', arg: 'n', help: 'seed for sampling, noise and timesteps' },
    'lora-rank': { type: 'string', default: '4', arg: 'r', help: 'pivotal: LoRA rank' },
    'lora-alpha': {
      type: 'string',
      arg: 'a',
      help: 'pivotal: LoRA alpha, the branch is scaled by alpha/rank (default: the rank)',
    },
    'lora-fraction': {
      type: 'string',
      default: '0.5',
      arg: 'f',
      help: 'pivotal: the LoRA trains during the last f of the steps (0 < f ≤ 1); the vectors train throughout',
    },
    'lora-lr': {
      type: 'string',
      default: '1e-4',
      arg: 'lr',
      help: "pivotal: the LoRA's learning rate (its own AdamW)",
    },
    pipeline: {
      type: 'string',
      arg: 'file.json',
      help: 'training pipeline description (timesteps, loss weighting, optimizer, augmentation)',
    },
    device: { type: 'string', default: 'cpu', arg: 'cpu|cuda', help: 'where the model runs' },
    memory: {
      type: 'string',
      default: 'auto',
      arg: 'auto|lean|fast',
      help: 'lean: least memory (SD1.5 ~8 GiB); fast: ~15% quicker steps for ~2x the memory; auto: lean for big models',
    },
    out: { type: 'string', short: 'o', default: 'out/embedding', arg: 'dir', help: 'output folder' },
    resume: { type: 'boolean', help: 'continue from the training state in --out' },
    overwrite: { type: 'boolean', help: 'start over in an --out that holds a run, deleting its checkpoints' },
    'resume-with-changes': {
      type: 'boolean',
      help: "with --resume: go on even though --seed, --lr or the schedule differ from the checkpoint's",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const request = fromFlags(spec, () =>
    parseTrainRequest({
      model: v.model,
      images: v.images,
      token: v.token,
      init: v.init,
      vectors: num(v.vectors, 'vectors', { int: true }),
      steps: num(v.steps, 'steps', { int: true }),
      lr: num(v.lr, 'lr'),
      scaleLr: Boolean(v['scale-lr']),
      schedule: v.schedule,
      warmup: num(v.warmup, 'warmup', { int: true }),
      batch: num(v.batch, 'batch', { int: true }),
      accumulate: num(v.accumulate, 'accumulate', { int: true }),
      weightDecay: num(v['weight-decay'], 'weight-decay'),
      clipGradNorm: num(v['clip-grad-norm'], 'clip-grad-norm'),
      maxNormRatio: num(v['max-norm-ratio'], 'max-norm-ratio', { min: 0 }),
      minSnrGamma: num(v['min-snr-gamma'], 'min-snr-gamma'),
      resolution: num(v.resolution, 'resolution', { int: true }) ?? null,
      property: v.property,
      captions: Boolean(v.captions),
      repeats: num(v.repeats, 'repeats', { int: true }),
      validateEvery: num(v['validate-every'], 'validate-every', { int: true }),
      validationPrompt: v['validation-prompt'] ?? null,
      saveEvery: num(v['save-every'], 'save-every', { int: true }),
      layout: v.layout,
      seed: num(v.seed, 'seed', { int: true }),
      device: v.device,
      memory: v.memory,
      out: resolve(v.out),
      resume: Boolean(v.resume),
      resumeWithChanges: Boolean(v['resume-with-changes']),
      method: v.method,
      earlyStop: num(v['early-stop'], 'early-stop', { int: true }),
      lora: {
        rank: num(v['lora-rank'], 'lora-rank', { int: true, min: 1 }),
        alpha: num(v['lora-alpha'], 'lora-alpha', { min: 0 }),
        fraction: num(v['lora-fraction'], 'lora-fraction', { min: 0 }),
        lr: num(v['lora-lr'], 'lora-lr', { min: 0 }),
      },
    }),
  );
  const description = v.pipeline ? JSON.parse(readFileSync(v.pipeline, 'utf8')) : undefined;
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const removed = prepareOut(request.out, { resume: request.resume, overwrite: Boolean(v.overwrite) });
  if (removed) log(`--overwrite: removed ${removed} files of the run in ${request.out}`);
  const { deps, found } = watchedDeps(request, description, log);
  const stop = stopOnSignals(log);
  const bar = progressBar('training');
  let files: string[] = [];
  let saved = 0;
  let started = false;
  let finished = false; // a Ctrl-C after the last step stops nothing
  try {
    await lastValueFrom(
      runTrain(request, deps, description, { signal: stop.signal }).pipe(
        tap((f) => {
          // The first progress frame comes once setup has opened the model and read the images.
          if (f.type === 'progress' && f.phase === 'train' && !started) {
            started = true;
            found(f.step);
          }
          if (f.type === 'loss')
            bar.update(
              f.step,
              request.steps,
              // A float16 model's step whose scaled gradient overflowed updates nothing (README: float16 exports).
              f.phase === 'overflow'
                ? `loss ${f.loss.toFixed(4)} gradient overflow at loss scale ${f.terms?.lossScale}: update skipped, scale halved`
                : `loss ${f.loss.toFixed(4)} |v| ${f.embeddingNorm?.toFixed(3)}`,
            );
          if (f.type === 'validation') log(`\nstep ${f.step}: validation loss ${f.loss?.toFixed(5)}`);
          if (f.type === 'checkpoint') (files = f.files), (saved = f.step);
          if (f.type === 'done') {
            finished = true;
            bar.done();
            const best = f.summary.best as { step: number; loss: number } | null;
            if (best) log(`best validation loss ${best.loss.toFixed(5)} at step ${best.step}`);
            const early = f.summary.earlyStop as { step: number; patience: number } | undefined;
            if (early)
              log(
                `stopped early at step ${early.step}: no better validation loss for ${early.patience} rounds; the result is step ${best?.step}'s vectors`,
              );
          }
        }),
      ),
    );
  } catch (e) {
    throw withFlagName(spec, e); // "images: '/x' is not a folder" → "--images '/x' is not a folder"
  } finally {
    stop.dispose();
  }
  if (stop.signal.aborted && !finished) {
    bar.done();
    log(`\nsaved step ${saved} — continue with --resume`);
    process.exitCode = stop.exitCode(); // 130 after Ctrl-C, as shells report a run stopped by it
  }
  process.stdout.write(`${files.join('\n')}\n`);
};
