/**
 * One inversion as `eval` runs it (eval-methods.ts, pivotal-method.ts): a training request with eval's steps, lr,
 * seed, captions and norm cap, no validation, previews or intermediate checkpoints, run to its final checkpoint.
 */
import { filter, lastValueFrom, map } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { parseTrainRequest, type TrainRequestInput } from '../../common/train/train-request.ts';
import { runTrain, type TrainDeps } from '../train/run-train.ts';
import type { EvalConfig } from './eval-config.ts';

/**
 * Trains `token` on the images in `dir` into `out` and returns the files of the final checkpoint.
 * @throws PipelineError('internal') naming the concept when the run fails.
 */
export const trainForEval = async (
  deps: TrainDeps,
  cfg: EvalConfig,
  job: { name: string; dir: string; init: string; vectors: number; out: string },
  method: Pick<TrainRequestInput, 'method' | 'lora'>,
): Promise<string[]> => {
  const request = parseTrainRequest({
    model: cfg.model,
    images: job.dir,
    token: `<${job.name}>`,
    init: job.init,
    vectors: job.vectors,
    steps: cfg.tiSteps,
    lr: cfg.lr,
    maxNormRatio: cfg.maxNormRatio ?? 0,
    captions: cfg.captions ?? false,
    seed: cfg.seed,
    out: job.out,
    device: cfg.device,
    validateEvery: 0,
    previewEvery: 0,
    saveEvery: 0,
    validationImages: 0,
    ...method,
  });
  return lastValueFrom(
    runTrain(request, deps).pipe(
      filter((f) => f.type === 'checkpoint' || f.type === 'error'),
      map((f) => {
        if (f.type === 'error')
          throw new PipelineError('internal', `inverting ${job.name} (${request.method}): ${f.message}`);
        return (f as { files: string[] }).files;
      }),
    ),
  );
};
