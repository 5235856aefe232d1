/**
 * Shared by this folder's tests: a stage context on an opened model, and a way to run a description over
 * in-memory items to the end.
 */
import type { SdModel } from '../../weights/model-folder.ts';
import { buildPipeline } from './build-pipeline.ts';
import { compilePipeline, type CompileOptions } from './compile-pipeline.ts';
import { runPipeline } from './run-pipeline.ts';
import type { StageContext } from './stage-definition.ts';

/** A context whose model is `open('tiny')`, with generation allowed and progress ignored. */
export const contextOn = (open: (name: string, device: 'cpu' | 'cuda') => Promise<SdModel>): StageContext => ({
  runId: 'test',
  modelName: 'tiny',
  device: 'cpu',
  model: () => open('tiny', 'cpu'),
  progress: () => {},
  generate: { openModel: open },
});

/** Compiles, builds and runs `description` over `items`, collecting every result. */
export const runToEnd = async <T>(
  description: unknown,
  items: unknown[],
  ctx: StageContext,
  o: CompileOptions = {},
): Promise<T[]> => {
  const built = await buildPipeline(await compilePipeline(description, o), ctx);
  const reader = runPipeline<T>(
    built,
    (async function* () {
      yield* items;
    })(),
  ).getReader();
  const out: T[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
};
