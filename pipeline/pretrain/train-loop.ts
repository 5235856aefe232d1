/**
 * The step loop both pretraining phases share: feed the weights and a batch to the one-run loss graph, read the
 * loss and every `<weight>_grad`, take a clipped AdamW step with warmup + cosine learning rate, report, and hand
 * a checkpoint blob out every `checkpointEvery` steps. An async generator, so the caller streams its events and
 * stopping (breaking out of the loop) stops between two steps.
 */
import { learningRate } from '../../common/train/lr-schedule.ts';
import { PipelineError } from '../../common/errors.ts';
import type { Session } from '../../weights/session.ts';
import type { Tensor } from '../../common/tensor.ts';
import type { ParamSet, AdamWOptions } from './param-set.ts';
import type { PhaseRecipe } from './pretrain-config.ts';

export type Phase = 'vae' | 'diffusion' | 'decoder';

/** One optimizer step's report. */
export interface StepEvent {
  type: 'step';
  phase: Phase;
  /** 1-based step just taken, of `of`. */
  step: number;
  of: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Other scalar outputs of the graph (the VAE's `rec` and `kl`). */
  terms: Record<string, number>;
}

/** A checkpoint to keep: the phase's `ParamSet.serialize()` after `step` steps. */
export interface CheckpointEvent {
  type: 'checkpoint';
  phase: Phase;
  step: number;
  blob: Uint8Array;
}

export interface LoopOptions {
  phase: Phase;
  session: Session;
  params: ParamSet;
  recipe: PhaseRecipe;
  adamw: AdamWOptions;
  /** The batch feeds for a 0-based step (deterministic in the step, so a resumed run sees the same batches). */
  batchAt(step: number): Record<string, Tensor>;
  /** Scalar outputs to report besides `loss`. */
  terms?: string[];
  checkpointEvery?: number;
}

const scalar = (t: Tensor | undefined, name: string): number => {
  if (!t) throw new PipelineError('internal', `the loss graph returned no '${name}'`);
  return Number((t.data as Float32Array)[0]);
};

/**
 * Runs steps `params.steps … recipe.steps − 1` (so a restored ParamSet resumes), yielding each step and the
 * checkpoints; the last step always checkpoints.
 *
 * @example
 * for await (const e of trainLoop({ phase: 'vae', session, params, recipe, adamw, batchAt })) console.log(e);
 */
export async function* trainLoop(o: LoopOptions): AsyncGenerator<StepEvent | CheckpointEvent> {
  const { recipe, params } = o;
  const fetch = ['loss', ...(o.terms ?? []), ...params.names.map((n) => `${n}_grad`)];
  for (let step = params.steps; step < recipe.steps; step++) {
    const out = await o.session.run({ ...params.feeds(), ...o.batchAt(step) }, fetch);
    const loss = scalar(out.loss, 'loss');
    if (!Number.isFinite(loss)) throw new PipelineError('numeric', `${o.phase} loss is ${loss} at step ${step + 1}`);
    const lr = learningRate('cosine', recipe.lr, step, recipe.steps, recipe.warmup);
    // A warmup step with lr 0 still counts, so the schedule and the batches stay aligned with the step number.
    const gradNorm = params.step((n) => out[`${n}_grad`].data as Float32Array, lr, o.adamw);
    const terms = Object.fromEntries((o.terms ?? []).map((t) => [t, scalar(out[t], t)]));
    params.meta = { loss, ...terms };
    yield { type: 'step', phase: o.phase, step: step + 1, of: recipe.steps, loss, lr, gradNorm, terms };
    if (step + 1 === recipe.steps || (o.checkpointEvery && (step + 1) % o.checkpointEvery === 0))
      yield { type: 'checkpoint', phase: o.phase, step: step + 1, blob: params.serialize() };
  }
}
