/**
 * The checkpoint a stopped training run leaves: the state it stopped at, so a resume loses nothing. Files go in
 * the same order as every checkpoint's (embeddings, then the state), so a kill during this write still leaves a
 * complete checkpoint behind.
 */
import { defer, type Observable } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import { type WriteFiles, writeCheckpoint } from '../../stages/save-checkpoint.ts';
import {
  checkpointFiles,
  stateFile,
  stateFileName,
  type CheckpointIdentity,
} from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';

/**
 * Writes `state` as a checkpoint and emits its `checkpoint` frame. When `out` already holds a checkpoint of that
 * step (`savedStep`), only the state file is written again (the same bytes): the frame still names a file, and no
 * `learned_embeds-steps-0` of untrained vectors appears for a run stopped before its first step.
 * @example stopCheckpoint(ctx, id, write, last, 100) // a run stopped at step 123: writes step 123's files
 */
export const stopCheckpoint = (
  ctx: TrainContext,
  id: CheckpointIdentity,
  write: WriteFiles,
  state: TrainState,
  savedStep: number,
): Observable<Frame> =>
  defer(() =>
    writeCheckpoint(
      ctx,
      write,
      state.step,
      state.step === savedStep
        ? { [stateFileName]: stateFile(state, id) }
        : checkpointFiles(state, id, ctx.request.layout, false),
    ),
  );
