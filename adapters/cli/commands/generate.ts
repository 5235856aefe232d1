import { lastValueFrom, tap } from 'rxjs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../../fs.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { openModel } from '../../open-model.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../../common/requests.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';
import { progressBar } from '../progress-bar.ts';
import { readFileSync } from 'node:fs';

export const spec: CommandSpec = {
  name: 'generate',
  summary: 'Generate an image from a prompt (DDIM with classifier-free guidance), streaming progress.',
  usage: 'generate --prompt "a photo of a cat" [--model tiny|<dir>] [options]',
  options: {
    model: { type: 'string', default: 'tiny', arg: 'dir|tiny', help: "model folder (Optimum ONNX layout) or 'tiny'" },
    prompt: { type: 'string', short: 'p', arg: 'text', help: 'the prompt (required)' },
    'negative-prompt': { type: 'string', default: '', arg: 'text', help: 'negative prompt (the unconditional branch)' },
    steps: { type: 'string', default: '50', arg: 'n', help: 'denoising steps' },
    guidance: { type: 'string', default: '7.5', arg: 'g', help: 'classifier-free guidance scale' },
    seed: { type: 'string', default: '0', arg: 'n', help: 'noise seed (same seed, same image on Bun, Deno and Node)' },
    width: { type: 'string', arg: 'px', help: "image width (default: the model's)" },
    height: { type: 'string', arg: 'px', help: "image height (default: the model's)" },
    eta: { type: 'string', default: '0', arg: 'η', help: 'DDIM η (0 deterministic)' },
    pipeline: { type: 'string', arg: 'file.json', help: 'pipeline description (sampler, preview) as JSON' },
    embeddings: {
      type: 'string',
      multiple: true,
      arg: 'file',
      help: 'textual-inversion embedding file(s) to load (repeatable)',
    },
    device: { type: 'string', default: 'cpu', arg: 'cpu|cuda', help: 'where the model runs' },
    out: { type: 'string', short: 'o', default: 'out.png', arg: 'file.png', help: 'where to write the image' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const request = parseGenerateRequest({
    model: v.model,
    prompt: v.prompt ?? '',
    negativePrompt: v['negative-prompt'],
    steps: num(v.steps, 'steps', { int: true }),
    guidance: num(v.guidance, 'guidance'),
    seed: num(v.seed, 'seed', { int: true }),
    width: num(v.width, 'width', { int: true }) ?? null,
    height: num(v.height, 'height', { int: true }) ?? null,
    eta: num(v.eta, 'eta'),
    device: v.device,
    embeddings: v.embeddings ?? [],
  });
  const description = v.pipeline ? JSON.parse(readFileSync(v.pipeline, 'utf8')) : {};
  const bar = progressBar('denoising');
  const log = (m: string) => process.stderr.write(`${m}\n`);
  let written = '';
  await lastValueFrom(
    runGenerate(
      request,
      { openModel: (name, device) => openModel(name, device, log), withEmbeddings: loadEmbeddingsInto },
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
