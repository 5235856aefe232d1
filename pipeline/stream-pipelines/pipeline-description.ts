/**
 * A stream pipeline as data: which stages run, in what order, with which settings, on which model. Each `use` is
 * a built-in stage's name or the path of a module that exports a stage (`./stages/my-stage.ts`); `with` holds
 * that stage's settings, checked against its own schema when the description is compiled.
 *
 * @example
 * { "kind": "stream", "model": "tiny", "stages": [{ "use": "decode-image", "with": { "resolution": 64 } }, { "use":
 * "vae-encode" }] }
 */
import { z } from 'zod';

/** One step of a pipeline: the stage to use and its settings. */
export const StageUse = z.strictObject({
  use: z
    .string()
    .min(1)
    .describe("a built-in stage's name, or the path of a module exporting a stage (relative to the description)"),
  with: z.record(z.string(), z.unknown()).optional().describe("the stage's settings; see its schema"),
});
/** One step of a pipeline. */
export type StageUse = z.infer<typeof StageUse>;

/** A whole stream pipeline. */
export const PipelineDescription = z.strictObject({
  /** Lets editors find the JSON Schema (docs/pipeline.schema.json); ignored otherwise. */
  $schema: z.string().optional(),
  kind: z.literal('stream').default('stream'),
  model: z
    .string()
    .min(1)
    .default('tiny')
    .describe("'tiny' (the embedded model) or a model folder in the Optimum ONNX layout"),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  stages: z.array(StageUse).min(1).max(64),
});
/** A parsed description, defaults filled. */
export type PipelineDescription = z.output<typeof PipelineDescription>;
/** What a description file may say (defaults optional). */
export type PipelineDescriptionInput = z.input<typeof PipelineDescription>;

/**
 * True when `use` names a module rather than a built-in: a relative or absolute path, a file: URL, or a name
 * ending in .ts/.js/.mjs.
 * @example isModuleRef('./stages/grayscale.ts') // true
 */
export const isModuleRef = (use: string): boolean =>
  /^(\.{1,2}[\\/]|[\\/]|[A-Za-z]:[\\/]|file:)/.test(use) || /\.(m?[jt]s)$/.test(use);
