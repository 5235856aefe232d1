/**
 * A pretraining run on disk, for the CLI and the server alike: checkpoints, `recipe.json`, `loss.jsonl` and
 * sample images in a work folder (resumable), the trained model folder written to `out`, frames streamed as
 * `pretrainRun` makes them.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defer, lastValueFrom, tap, toArray, type Observable } from 'rxjs';
import { PipelineError } from '../common/errors.ts';
import type { Frame } from '../common/frames.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { pretrain } from '../pipeline/pretrain/pretrain.ts';
import type { PretrainRecipe } from '../pipeline/pretrain/pretrain-config.ts';
import { phaseStart, pretrainRun } from '../pipeline/pretrain/pretrain-frames.ts';
import type { Phase } from '../pipeline/pretrain/train-loop.ts';
import { recipeOf, resumable, type PretrainRequest } from '../pipeline/pretrain/pretrain-request.ts';
import { writeFileAtomic, writeFiles } from './fs.ts';
import { openGraph } from './graph-session.ts';
import { openModel } from './open-model.ts';

const phases = ['vae', 'decoder', 'diffusion'] as const;

const slug = (s: string) =>
  s
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();

/**
 * The run's frames; nothing happens until it is subscribed.
 *
 * @example
 * pretrainJob(PretrainRequest.parse({ scale: 0.01 }), { out: 'out/tiny', work: 'out/tiny-work' }, console.error, 'r1')
 */
export const pretrainJob = (
  request: PretrainRequest,
  paths: { out: string; work: string },
  log: (m: string) => void,
  runId: string,
): Observable<Frame> =>
  defer(() => {
    const recipe = recipeOf(request);
    const { out, work } = paths;
    mkdirSync(work, { recursive: true });
    const ckpt = (phase: string) => join(work, `${phase}.ckpt`);
    const recipeFile = join(work, 'recipe.json');
    const resume: { vae?: Uint8Array; decoder?: Uint8Array; diffusion?: Uint8Array } = {};
    if (request.resume) {
      if (existsSync(recipeFile)) {
        const was = JSON.parse(readFileSync(recipeFile, 'utf8')) as PretrainRecipe;
        if (!resumable(was, recipe))
          throw new PipelineError(
            'bad_request',
            `the checkpoints in ${work} were made with another seed, dataset or batch size (${recipeFile}); run without resume to start over`,
            { field: 'resume' },
          );
        if (JSON.stringify(was) !== JSON.stringify(recipe))
          log(`resuming with a changed recipe (was ${JSON.stringify(was)})`);
      }
      for (const p of phases) if (existsSync(ckpt(p))) resume[p] = new Uint8Array(readFileSync(ckpt(p)));
    } else {
      for (const p of phases) rmSync(ckpt(p), { force: true });
      rmSync(join(work, 'loss.jsonl'), { force: true });
    }
    writeFileAtomic(recipeFile, JSON.stringify(recipe));
    const lossLog = join(work, 'loss.jsonl');
    const open = (m: Parameters<typeof openGraph>[0]) =>
      openGraph(m, () => {
        throw new PipelineError('internal', 'pretraining graphs keep no external data');
      });
    const events = pretrain({ recipe, open, resume, checkpointEvery: request.checkpointEvery });
    let last = performance.now();
    const frames = pretrainRun(
      {
        recipe,
        events,
        prompts: request.samples,
        info: log,
        saveCheckpoint: (phase, _step, blob) => (writeFileAtomic(ckpt(phase), blob), ckpt(phase)),
        saveModel: (files) => {
          rmSync(out, { recursive: true, force: true });
          writeFiles(out, files);
          return out;
        },
        sample: async (model, prompt) => {
          const req = parseGenerateRequest({ model, prompt, steps: 50, guidance: 5, seed: 0 });
          const all = await lastValueFrom(
            runGenerate(req, { openModel: (name, device) => openModel(name, device) }, {}).pipe(toArray()),
          );
          const image = all.find((f) => f.type === 'image');
          if (image?.type !== 'image') throw new PipelineError('internal', `no image for '${prompt}'`);
          writeFileAtomic(join(work, 'samples', `${slug(prompt)}.png`), image.png);
          return { png: image.png, width: image.width, height: image.height };
        },
      },
      runId,
    );
    // The per-phase loss log (one JSON line per step) that `pretrain` has always kept beside its checkpoints.
    return frames.pipe(
      tap((frame) => {
        if (frame.type !== 'loss' || !frame.phase) return;
        const now = performance.now();
        const step = frame.step - phaseStart(recipe, frame.phase as Phase);
        appendFileSync(
          lossLog,
          `${JSON.stringify({ phase: frame.phase, step, loss: frame.loss, ...frame.terms, lr: frame.lr, gradNorm: frame.gradNorm, ms: Math.round(now - last) })}\n`,
        );
        last = now;
      }),
    );
  });
