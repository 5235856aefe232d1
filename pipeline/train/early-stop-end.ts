/**
 * The end of a run stopped early (common/train/early-stop.ts): the result is the best validation step's vectors
 * (and, for pivotal tuning, its LoRA). `learned_embeds.safetensors` (and `lora.safetensors`) get them (the
 * embedding's step metadata says which step), then the state of the step the run
 * stopped at is written last, as in every checkpoint, so `--resume` can still go on from where it stopped.
 */
import { defer, type Observable } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import { type WriteFiles, writeCheckpoint } from '../../stages/save-checkpoint.ts';
import {
  embeddingBytes,
  embeddingFileName,
  loraBytes,
  stateFile,
  stateFileName,
  type CheckpointIdentity,
} from '../../weights/training/checkpoint-files.ts';
import type { TrainContext } from '../../weights/training/train-context.ts';
import { loraFileName } from '../../weights/lora/lora-file.ts';

export const earlyStopEnd = (
  ctx: TrainContext,
  id: CheckpointIdentity,
  write: WriteFiles,
  state: TrainState,
): Observable<Frame> =>
  defer(async (): Promise<Frame> => {
    const best = state.best!;
    const layout = ctx.request.layout;
    // Pivotal tuning: the adapter of that same step, so the word and the LoRA stay a pair.
    const lora = state.lora && loraBytes(state.bestLora ?? state.lora.params, id, layout);
    return writeCheckpoint(ctx, write, best.step, {
      [embeddingFileName]: embeddingBytes(state.bestVectors ?? state.vectors, best.step, id, layout),
      ...(lora ? { [loraFileName]: lora } : {}),
      [stateFileName]: stateFile(state, id),
    });
  });
