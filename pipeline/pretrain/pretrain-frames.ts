/**
 * Pretraining as a run: the `pretrain` generator's events turned into the frames every run streams — a progress
 * frame and a loss frame per step (tagged with the phase, the VAE's `rec`/`kl` as terms; steps counted across
 * the three phases so a loss chart reads left to right), a checkpoint frame for each blob the caller saved,
 * samples of the trained model as a validation frame, and done. The CLI, the HTTP server and the viewer then
 * treat pretraining like a textual-inversion run. Unsubscribing stops it between two steps.
 */
import { Observable } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { PretrainRecipe } from './pretrain-config.ts';
import type { PretrainEvent } from './pretrain.ts';
import type { Phase } from './train-loop.ts';

/** What a pretraining run does with what it makes. */
export interface PretrainRunDeps {
  recipe: PretrainRecipe;
  /** The events to stream (`pretrain(...)`, or a recording in tests). */
  events: AsyncIterable<PretrainEvent>;
  /** Keeps a phase's checkpoint blob; returns the path it wrote. */
  saveCheckpoint(phase: Phase, step: number, blob: Uint8Array): string | Promise<string>;
  /** Writes the trained folder's files; returns where. */
  saveModel(files: Record<string, Uint8Array>): string | Promise<string>;
  /** Draws a prompt with the written model (PNG); absent or no prompts = no samples. */
  sample?(modelDir: string, prompt: string): Promise<{ png: Uint8Array; width: number; height: number }>;
  prompts?: readonly string[];
  /** Free-text notes from the run (sizes, the latents' scaling factor). */
  info?(message: string): void;
}

const phaseOrder: readonly Phase[] = ['vae', 'decoder', 'diffusion'];

/**
 * Steps taken before `phase` begins: a run's step n of `phase` is its global step `phaseStart + n`.
 *
 * @example
 * phaseStart(defaultRecipe, 'decoder'); // defaultRecipe.vae.steps
 */
export const phaseStart = (recipe: PretrainRecipe, phase: Phase): number =>
  phaseOrder.slice(0, phaseOrder.indexOf(phase)).reduce((n, q) => n + recipe[q].steps, 0);

/**
 * The run's frames. Step numbers run 1 … vae + decoder + diffusion steps.
 *
 * @example
 * pretrainRun({ recipe, events: pretrain({ recipe, open }), saveCheckpoint, saveModel }, 'r1')
 *   .subscribe((f) => f.type === 'loss' && console.log(f.phase, f.step, f.loss));
 */
export const pretrainRun = (deps: PretrainRunDeps, runId: string): Observable<Frame> =>
  new Observable<Frame>((subscriber) => {
    const { recipe } = deps;
    const total = phaseOrder.reduce((n, p) => n + recipe[p].steps, 0);
    const started = performance.now();
    let stopped = false;
    const run = async () => {
      let modelDir: string | undefined;
      let last: Record<string, number> = {};
      for await (const e of deps.events) {
        if (stopped) return;
        if (e.type === 'info') deps.info?.(e.message);
        else if (e.type === 'step') {
          const step = phaseStart(recipe, e.phase) + e.step;
          const elapsedMs = performance.now() - started;
          subscriber.next({
            type: 'progress',
            runId,
            step,
            of: total,
            phase: e.phase,
            elapsedMs,
            itPerSec: step / Math.max(elapsedMs / 1000, 1e-9),
          });
          subscriber.next({
            type: 'loss',
            runId,
            step,
            loss: e.loss,
            lr: e.lr,
            gradNorm: e.gradNorm,
            phase: e.phase,
            ...(Object.keys(e.terms).length ? { terms: e.terms } : {}),
          });
          last = { ...last, [`${e.phase}Loss`]: e.loss };
        } else if (e.type === 'checkpoint') {
          const path = await deps.saveCheckpoint(e.phase, e.step, e.blob);
          subscriber.next({
            type: 'checkpoint',
            runId,
            step: phaseStart(recipe, e.phase) + e.step,
            files: [path],
            bytes: e.blob.byteLength,
          });
        } else if (e.type === 'model') {
          modelDir = await deps.saveModel(e.files);
        }
      }
      const images = [];
      for (const prompt of deps.sample && modelDir ? (deps.prompts ?? []) : []) {
        if (stopped) return;
        images.push({ prompt, ...(await deps.sample!(modelDir!, prompt)) });
      }
      if (images.length) subscriber.next({ type: 'validation', runId, step: total, images });
      subscriber.next({
        type: 'done',
        runId,
        summary: { model: modelDir, seconds: (performance.now() - started) / 1000, finalLosses: last, recipe },
      });
      subscriber.complete();
    };
    run().catch((e: unknown) => subscriber.error(e));
    return () => {
      stopped = true;
    };
  });
