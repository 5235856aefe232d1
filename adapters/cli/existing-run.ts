/**
 * A training run's files in its `--out` folder: `train` refuses to start over a run it was not told to resume or
 * overwrite, since a fresh run would replace its checkpoint and mix its per-step files with the old run's.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PipelineError } from '../../common/errors.ts';
import { stateFileName } from '../../weights/training/checkpoint-files.ts';

/** What a run writes (checkpoint-files.ts): its state, the latest embedding and the per-step copies. */
const runFile = /^(training-state\.json|learned_embeds(-steps-\d+)?\.safetensors)$/;

/**
 * The run files in `out` (none when it does not exist), and the step its state records if readable.
 * @example runFiles('out/cat') // { files: ['learned_embeds.safetensors', 'training-state.json'], step: 3000 }
 */
export const runFiles = (out: string): { files: string[]; step?: number } => {
  if (!existsSync(out)) return { files: [] };
  const files = readdirSync(out).filter((f) => runFile.test(f));
  let step: number | undefined;
  try {
    step = JSON.parse(readFileSync(join(out, stateFileName), 'utf8')).step;
  } catch {} // no state, or a torn one: the folder still holds a run's files
  return { files, ...(typeof step === 'number' ? { step } : {}) };
};

/**
 * Refuses to train into a folder holding a run unless `resume` (continue it) or `overwrite` (its run files are
 * removed first; other files stay). Returns how many files `overwrite` removed.
 * @throws PipelineError('conflict') naming the folder, the step it holds and both flags.
 * @example prepareOut('out/cat', { resume: false, overwrite: true }) // 3: state, latest and one per-step file
 */
export const prepareOut = (out: string, { resume, overwrite }: { resume: boolean; overwrite: boolean }): number => {
  if (resume && overwrite)
    throw new PipelineError('bad_request', '--resume continues the run in --out and --overwrite discards it: pass one');
  const { files, step } = runFiles(out);
  if (resume || !files.length) return 0;
  if (!overwrite)
    throw new PipelineError(
      'conflict',
      `--out '${out}' already holds a training run${step !== undefined ? ` (at step ${step})` : ''}: pass --resume to continue it, or --overwrite to start over (its checkpoints are deleted)`,
      { field: 'out' },
    );
  for (const f of files) rmSync(join(out, f), { force: true });
  return files.length;
};
