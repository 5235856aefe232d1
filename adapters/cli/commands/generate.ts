import { lastValueFrom, tap } from 'rxjs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../../fs.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { loadLoraInto, parseLoraFlag } from '../../load-lora.ts';
import { openModel } from '../../open-model.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../../common/requests.ts';
import { fromFlags, helpText, num, parse, type CommandSpec } from '../args.ts';
import { progressBar } from '../progress-bar.ts';
import { warnIfCut } from '../long-prompt.ts';
import { cropFlag, sizeFlag } from '../size-flags.ts';
import type { SdModel } from '../../../weights/model-folder.ts';
import { readFileSync } from 'node:fs';

export const spec: CommandSpec = {
  name: 'generate',
  summary:
    'Generate an image from a prompt (DDIM, Euler, Euler-a or DPM++ 2M with classifier-free guidance), streaming progress.',
  usage: 'generate --prompt "a photo of a cat" [--model tiny|<dir>] [options]',
  options: {
    model: {
      type: 'string',
      default: 'tiny',
      arg: 'dir|tiny|tiny-xl',
      help: "model folder (Optimum ONNX layout), 'tiny' or 'tiny-xl' (the embedded SDXL-structured model)",
    },
    prompt: { type: 'string', short: 'p', arg: 'text', help: 'the prompt (required)' },
    'negative-prompt': { type: 'string', default: '', arg: 'text', help: 'negative prompt (the unconditional branch)' },
    steps: { type: 'string', default: '50', arg: 'n', help: 'denoising steps' },
    guidance: { type: 'string', default: '7.5', arg: 'g', help: 'classifier-free guidance scale' },
    seed: { type: 'string', default: '0', arg: 'n', help: 'noise seed (same seed, same image on Bun, Deno and Node)' },
    width: { type: 'string', arg: 'px', help: "image width (default: the model's)" },
    height: { type: 'string', arg: 'px', help: "image height (default: the model's)" },
    eta: { type: 'string', default: '0', arg: 'η', help: 'DDIM η (0 deterministic)' },
    sampler: {
      type: 'string',
      arg: 'ddim|euler|euler-a|dpm++2m|dpm++2m-karras',
      help: "sampler (default: the model folder's scheduler; also ddpm-ancestral, euler-karras, euler-a-karras)",
    },
    pipeline: { type: 'string', arg: 'file.json', help: 'pipeline description (sampler, preview) as JSON' },
    embeddings: {
      type: 'string',
      multiple: true,
      arg: 'file',
      help: 'textual-inversion embedding file(s) to load (repeatable)',
    },
    lora: {
      type: 'string',
      multiple: true,
      arg: 'file[:scale]',
      help: 'LoRA file(s) merged into the UNet, kohya/A1111 or diffusers keys, at a scale (default 1; repeatable)',
    },
    device: { type: 'string', default: 'cpu', arg: 'cpu|cuda', help: 'where the model runs' },
    'original-size': {
      type: 'string',
      arg: 'WxH',
      help: 'SDXL micro-conditioning: the original image size (default: the image size)',
    },
    crop: { type: 'string', arg: 'left,top', help: 'SDXL micro-conditioning: the crop corner in pixels (default 0,0)' },
    'target-size': {
      type: 'string',
      arg: 'WxH',
      help: 'SDXL micro-conditioning: the target size (default: the image size)',
    },
    out: { type: 'string', short: 'o', default: 'out.png', arg: 'file.png', help: 'where to write the image' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const request = fromFlags(spec, () =>
    parseGenerateRequest({
      model: v.model,
      prompt: v.prompt ?? '',
      negativePrompt: v['negative-prompt'],
      steps: num(v.steps, 'steps', { int: true }),
      guidance: num(v.guidance, 'guidance'),
      seed: num(v.seed, 'seed', { int: true }),
      width: num(v.width, 'width', { int: true }) ?? null,
      height: num(v.height, 'height', { int: true }) ?? null,
      eta: num(v.eta, 'eta'),
      sampler: v.sampler ?? null,
      device: v.device,
      embeddings: v.embeddings ?? [],
      lora: (v.lora ?? []).map(parseLoraFlag),
      originalSize: sizeFlag(v['original-size'], 'original-size'),
      crop: cropFlag(v.crop),
      targetSize: sizeFlag(v['target-size'], 'target-size'),
    }),
  );
  const description = v.pipeline ? JSON.parse(readFileSync(v.pipeline, 'utf8')) : {};
  const bar = progressBar('denoising');
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const warnCut = (model: SdModel, final: boolean) => {
    if (!final) return model;
    warnIfCut(log, model.tokenizer, '--prompt', request.prompt);
    warnIfCut(log, model.tokenizer, '--negative-prompt', request.negativePrompt);
    return model;
  };
  let written = '';
  await lastValueFrom(
    runGenerate(
      request,
      {
        // The prompts are checked against the tokenizer the run uses: with the embeddings' tokens, once loaded.
        openModel: async (name, device) => warnCut(await openModel(name, device, log), !request.embeddings.length),
        withEmbeddings: async (model, files) => warnCut(await loadEmbeddingsInto(model, files), true),
        withLora: loadLoraInto,
      },
      description,
    ).pipe(
      tap((f) => {
        if (f.type === 'progress') bar.update(f.step, f.of, f.itPerSec ? `${f.itPerSec.toFixed(1)} it/s` : '');
        if (f.type === 'image' && f.index === 0) {
          written = resolve(v.out);
          writeFileAtomic(written, f.png);
        }
        if (f.type === 'error') throw new Error(f.message);
      }),
    ),
  );
  bar.done();
  process.stdout.write(`${written}\n`);
};
