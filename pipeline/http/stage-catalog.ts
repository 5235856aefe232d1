/**
 * The swappable stages, as a client sees them: for each slot of the generate and train pipeline descriptions,
 * the alternatives (`use`) with their settings as JSON Schema (input side: fields with defaults are optional).
 * Read straight from the description schemas, so a new alternative shows up here without touching this file.
 */
import { z } from 'zod';
import { previewChoice, samplerChoice } from '../../common/generate-pipeline.ts';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';

/** One alternative for a slot: its `use` name and the JSON Schema of its settings object. */
export interface StageAlternative {
  use: string;
  schema: Record<string, unknown>;
}

// A slot is a discriminated union of alternatives, or a single object, maybe wrapped in optional/default.
const alternativesOf = (slot: z.ZodType, name: string): StageAlternative[] => {
  if (slot instanceof z.ZodOptional || slot instanceof z.ZodDefault)
    return alternativesOf(slot.unwrap() as z.ZodType, name);
  const options = slot instanceof z.ZodDiscriminatedUnion ? (slot.options as z.ZodType[]) : [slot];
  return options.map((o) => {
    const use = o instanceof z.ZodObject && o.shape.use instanceof z.ZodLiteral ? String(o.shape.use.value) : name;
    return { use, schema: z.toJSONSchema(o, { io: 'input' }) as Record<string, unknown> };
  });
};

// Built once: the schemas never change while the program runs.
let catalog: ReturnType<typeof buildCatalog> | undefined;
const buildCatalog = () => {
  const t = trainPipelineDescription.shape;
  return {
    generate: { sampler: alternativesOf(samplerChoice, 'sampler'), preview: alternativesOf(previewChoice, 'preview') },
    train: {
      lossWeighting: alternativesOf(t.lossWeighting, 'lossWeighting'),
      optimizer: alternativesOf(t.optimizer, 'optimizer'),
      timesteps: alternativesOf(t.timesteps, 'timesteps'),
      augment: alternativesOf(t.augment, 'augment'),
      inversion: alternativesOf(t.inversion, 'inversion'),
    },
  };
};

/**
 * Every swappable stage of both pipelines. A slot with one settings object and no `use` (train's `augment`) is
 * listed under its own name; `acceptCatalogUse` lets a client send that name back.
 * @example stageCatalog().generate.sampler.map((a) => a.use) // ['ddim', 'ddpm-ancestral', 'euler', 'euler-a', 'dpm++2m']
 */
export const stageCatalog = () => (catalog ??= buildCatalog());

/**
 * A description as a client built it from the catalog — `{ slot: { use, ...settings } }` — made acceptable to the
 * strict description schema: a slot whose settings have no `use` field loses the `use` the catalog gave it.
 * @example acceptCatalogUse('train', { augment: { use: 'augment', flipProbability: 0 } }) // { augment: {
 * flipProbability: 0 } }
 */
export const acceptCatalogUse = (kind: 'generate' | 'train', description: unknown): unknown => {
  if (typeof description !== 'object' || description === null || Array.isArray(description)) return description;
  const slots: Record<string, StageAlternative[]> = stageCatalog()[kind];
  const out: Record<string, unknown> = { ...description };
  for (const [slot, alternatives] of Object.entries(slots)) {
    const value = out[slot];
    const untagged =
      alternatives.length === 1 && !('use' in ((alternatives[0].schema.properties as object | undefined) ?? {}));
    if (untagged && typeof value === 'object' && value !== null && (value as { use?: unknown }).use === slot) {
      const { use: _, ...settings } = value as Record<string, unknown>;
      out[slot] = settings;
    }
  }
  return out;
};
