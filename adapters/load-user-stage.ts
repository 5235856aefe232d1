/**
 * Loading a user stage named by path in a pipeline description. The path is taken relative to the description
 * file's folder (or the working folder for a description read from elsewhere) and imported as a module — the
 * same `import()` on Bun and Deno, so a TypeScript stage runs on both without a build step.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PipelineError } from '../common/errors.ts';

/**
 * A `loadStage` for `compilePipeline`: resolves `ref` against `baseDir` and imports it.
 * @throws PipelineError('not_found') when the file is not there.
 * @example compilePipeline(desc, { loadStage: userStageLoader(dirname(descriptionPath)) })
 */
export const userStageLoader =
  (baseDir: string) =>
  async (ref: string): Promise<unknown> => {
    const path = ref.startsWith('file:') ? fileURLToPath(ref) : resolve(baseDir, ref);
    if (!existsSync(path)) throw new PipelineError('not_found', `no file ${path}`);
    return import(pathToFileURL(path).href);
  };

/**
 * The loader for a description read from `descriptionPath` (its folder is the base).
 * @example loadStageBeside('examples/pipelines/grayscale.json')('../stages/grayscale.ts')
 */
export const loadStageBeside = (descriptionPath: string) => userStageLoader(dirname(resolve(descriptionPath)));
