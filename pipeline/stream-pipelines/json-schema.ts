/**
 * What a client or an editor can know about pipelines without running one: the registered stages with their
 * kinds and settings as JSON Schema, and the JSON Schema of a whole description (published as
 * docs/pipeline.schema.json; `pseudoword run --schema` prints it, and a test keeps the file up to date).
 */
import { z } from 'zod';
import { builtInStages, stageRegistry, type StageRegistry } from './built-in-stages.ts';
import { PipelineDescription, StageUse } from './pipeline-description.ts';
import type { AnyStage } from './stage-definition.ts';
import type { StreamKind } from '../../common/stream-items.ts';

/** One stage as `GET /v1/pipelines/stages` lists it. */
export interface StageInfo {
  name: string;
  summary: string;
  input: StreamKind;
  output: StreamKind;
  whole: boolean;
  /** JSON Schema of `with` (input side: fields with defaults are optional). */
  settings: Record<string, unknown>;
}

const settingsSchema = (s: AnyStage) =>
  z.toJSONSchema(s.settings, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/**
 * The registered stages, with their kinds and settings schemas.
 * @example stageInfos().find((s) => s.name === 'vae-encode')?.output // 'latent'
 */
export const stageInfos = (registry: StageRegistry = stageRegistry()): StageInfo[] =>
  [...registry.values()].map((s) => ({
    name: s.name,
    summary: s.summary,
    input: s.input,
    output: s.output,
    whole: Boolean(s.whole),
    settings: settingsSchema(s),
  }));

/**
 * The JSON Schema of a pipeline description: each built-in `use` with its own settings, or a module path with
 * any settings (checked against the module's schema when the description is compiled).
 * @example JSON.stringify(pipelineJsonSchema(), null, 2)
 */
export const pipelineJsonSchema = (): Record<string, unknown> => {
  const known = builtInStages.map((s) =>
    z.strictObject({ use: z.literal(s.name).describe(s.summary), with: (s.settings as z.ZodType).optional() }),
  );
  const module = StageUse.extend({
    use: z
      .string()
      .regex(/^(\.{1,2}\/|\/|file:)|\.m?[jt]s$/)
      .describe('path of a module exporting a stage (see docs/writing-a-stage.md)'),
  });
  const description = PipelineDescription.extend({
    stages: z
      .array(z.union([...known, module]))
      .min(1)
      .max(64),
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'pseudoword stream pipeline',
    ...(z.toJSONSchema(description, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>),
  };
};
