/**
 * The end of a run stopped early (common/train/early-stop.ts): the result is the best validation step's vectors.
 * `learned_embeds.safetensors` gets them (its step metadata says which step), then the state of the step the run
 * stopped at is written last, as in every checkpoint, so `--resume` can still go on from where it stopped.
 */
import { defer, type Observable } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import type { WriteFiles } from '../../stages/save-checkpoint.ts';
import {
  embeddingBytes,
  embeddingFileName,
  stateFile,
  stateFileName,
  type CheckpointIdentity,
} from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';

export const earlyStopEnd = (
  ctx: TrainContext,
  id: CheckpointIdentity,
  write: WriteFiles,
  state: TrainState,
): Observable<Frame> =>
  defer(async (): Promise<Frame> => {
    const best = state.best!;
    const files = {
      [embeddingFileName]: embeddingBytes(state.bestVectors ?? state.vectors, best.step, id, ctx.request.layout),
      [stateFileName]: stateFile(state, id),
    };
    const paths = await write(files);
    const bytes = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
    return { type: 'checkpoint', runId: ctx.runId, step: best.step, files: paths, bytes };
  });
