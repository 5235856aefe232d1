/**
 * Checking a description before anything runs: the description's own shape, then for each stage that its `use`
 * names a known stage (or a module that exports one), that its `with` fits the stage's settings schema, and that
 * it takes the kind the stage before it emits. Every failure is a PipelineError('bad_request') naming the stage's
 * index, its name and the field, e.g. "stages[1] (vae-encode): with.sample: must be one of "mean", "sample"".
 */
import { PipelineError } from '../../common/errors.ts';
import { parseRequest } from '../../common/requests.ts';
import { stageRegistry, type StageRegistry } from './built-in-stages.ts';
import { isModuleRef, PipelineDescription } from './pipeline-description.ts';
import { stageFromModule } from './stage-from-module.ts';
import type { AnyStage } from './stage-definition.ts';
import type { StreamKind } from '../../common/stream-items.ts';

/** One checked stage: where it sits, what it is and its parsed settings. */
export interface CompiledStage {
  readonly index: number;
  readonly use: string;
  readonly stage: AnyStage;
  readonly settings: unknown;
}

/** A checked pipeline: the description with defaults, its stages, and the kinds it takes and emits. */
export interface CompiledPipeline {
  readonly description: PipelineDescription;
  readonly stages: readonly CompiledStage[];
  readonly input: StreamKind;
  readonly output: StreamKind;
}

/** Where stages come from. */
export interface CompileOptions {
  /** Defaults to the built-ins. */
  registry?: StageRegistry;
  /** Imports a module named by a path `use` (an adapter's job: it resolves the path); absent = refused. */
  loadStage?: (ref: string) => Promise<unknown>;
}

/** "stages[2] (vae-decode)" — how every message names a stage. */
export const stageLabel = (index: number, name: string): string => `stages[${index}] (${name})`;

const fail = (index: number, use: string, field: string, message: string) =>
  new PipelineError('bad_request', `${stageLabel(index, use)}: ${message}`, {
    field: `stages[${index}].${field}`,
    stage: index,
    use,
  });

const resolveStage = async (
  index: number,
  use: string,
  o: CompileOptions,
  registry: StageRegistry,
): Promise<AnyStage> => {
  const known = registry.get(use);
  if (known) return known;
  if (!isModuleRef(use))
    throw fail(
      index,
      use,
      'use',
      `unknown stage '${use}'; known stages: ${[...registry.keys()].join(', ')}, or a module path such as ./my-stage.ts`,
    );
  if (!o.loadStage) throw fail(index, use, 'use', 'stages from modules cannot be loaded here');
  let mod: unknown;
  try {
    mod = await o.loadStage(use);
  } catch (e) {
    throw fail(index, use, 'use', `cannot load the module: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = stageFromModule(mod, use);
  if (typeof r === 'string') throw fail(index, use, 'use', r);
  return r;
};

const parseSettings = (index: number, stage: AnyStage, value: unknown): unknown => {
  try {
    return parseRequest(stage.settings, value ?? {});
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    const field = typeof e.details?.field === 'string' && e.details.field ? `with.${e.details.field}` : 'with';
    const issue = ((e.details?.issues ?? []) as { message: string }[])[0]?.message ?? e.message;
    throw fail(index, stage.name, field, `${field}: ${issue}`);
  }
};

/**
 * Checks a description (any JSON value) and resolves its stages.
 * @throws PipelineError('bad_request') naming the stage index, name and field.
 * @example
 * const p = await compilePipeline({ kind: 'stream', stages: [{ use: 'decode-image' }, { use: 'vae-encode' }] });
 * p.input; // 'image-file'
 * p.output; // 'latent'
 */
export const compilePipeline = async (value: unknown, o: CompileOptions = {}): Promise<CompiledPipeline> => {
  const description = parseRequest(PipelineDescription, value);
  const registry = o.registry ?? stageRegistry();
  const stages: CompiledStage[] = [];
  for (const [index, { use, with: settings }] of description.stages.entries()) {
    const stage = await resolveStage(index, use, o, registry);
    const prev = stages[index - 1];
    if (prev && stage.input === 'none')
      throw fail(index, stage.name, 'use', `is a source (it takes no input), so it can only be the first stage`);
    if (prev && stage.input !== prev.stage.output)
      throw fail(
        index,
        stage.name,
        'use',
        `takes '${stage.input}' but ${stageLabel(index - 1, prev.stage.name)} emits '${prev.stage.output}'`,
      );
    stages.push({ index, use, stage, settings: parseSettings(index, stage, settings) });
  }
  return { description, stages, input: stages[0].stage.input, output: stages[stages.length - 1].stage.output };
};
