import { concatMap, defer, mergeMap, of, type Observable, type OperatorFunction } from 'rxjs';
import { checkpointFiles, type CheckpointIdentity } from '../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../weights/training/train-context.ts';
import { frameEvent, stateEvent, type TrainEvent, type TrainState } from '../common/train/train-state.ts';
import type { Frame } from '../common/frames.ts';

/** Writes files atomically under the run's output folder; returns the written paths. */
export type WriteFiles = (files: Record<string, Uint8Array>) => Promise<string[]>;

/** Writes a checkpoint's files and makes its `checkpoint` frame: the step it holds, the paths written, their bytes. */
export const writeCheckpoint = async (
  ctx: TrainContext,
  write: WriteFiles,
  step: number,
  files: Record<string, Uint8Array>,
): Promise<Frame> => {
  const paths = await write(files);
  const bytes = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
  return { type: 'checkpoint', runId: ctx.runId, step, files: paths, bytes };
};

/**
 * Every `saveEvery` steps and at the last: the embedding (per-step copy + latest) and the training state, each
 * file written atomically, then a `checkpoint` frame. The state passes on unchanged.
 */
export const saveCheckpoint = (
  ctx: TrainContext,
  id: CheckpointIdentity,
  write: WriteFiles,
): OperatorFunction<TrainState, TrainEvent> =>
  concatMap((s: TrainState): Observable<TrainEvent> => {
    const r = ctx.request;
    const final = s.step === r.steps;
    if (!final && !(r.saveEvery > 0 && s.step % r.saveEvery === 0)) return of(stateEvent(s));
    return defer(async () => [
      frameEvent(await writeCheckpoint(ctx, write, s.step, checkpointFiles(s, id, r.layout, final))),
      stateEvent(s),
    ]).pipe(mergeMap((e) => e));
  });
