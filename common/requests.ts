/**
 * Requests: what a client may ask of a run, as zod schemas with every default written down, so a request that
 * parses is complete. A bad request becomes PipelineError('bad_request') naming the field ("steps: must be ≤ 1000").
 */
import { z } from 'zod';
import { PipelineError } from './errors.ts';
import { limits } from './limits.ts';
import { samplerNames } from './sampler-names.ts';

// The largest side any model is asked for; each model allows less (weights/memory-estimate.ts' maxSideFactor).
const side = z.int().min(8).max(limits.imageSide).multipleOf(8).nullable().default(null);

// A size SDXL was told about (not the size drawn): any positive size up to 65536 px a side.
const MICRO_MAX = 65536;
const imageSize = z
  .strictObject({ width: z.int().min(1).max(MICRO_MAX), height: z.int().min(1).max(MICRO_MAX) })
  .nullable()
  .default(null);

/** A text-to-image request. `width`/`height` null means the model's native size; `previewEvery` 0 means none. */
export const GenerateRequest = z.strictObject({
  model: z.string().min(1).default('tiny'), // 'tiny' (the embedded model) or a model folder path
  prompt: z.string().refine((s) => s.trim() !== '', 'must not be empty'),
  negativePrompt: z.string().default(''),
  steps: z.int().min(1).max(1000).default(50),
  guidance: z.number().min(0).max(100).default(7.5),
  // No random default: a request alone must reproduce its image.
  seed: z.int().min(0).default(0),
  width: side,
  height: side,
  eta: z.number().min(0).max(1).default(0),
  // null: the model folder's scheduler class picks (see sampler-names.ts); a name overrides `pipeline.sampler`.
  sampler: z.enum(samplerNames).nullable().default(null),
  previewEvery: z.int().min(0).default(1),
  embeddings: z.array(z.string().min(1)).default([]),
  /** LoRA files (kohya/A1111 or diffusers keys) merged into the UNet, each at its scale. */
  lora: z
    .array(z.strictObject({ file: z.string().min(1), scale: z.number().min(-16).max(16).default(1) }))
    .max(16)
    .default([]),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  // SDXL's micro-conditioning (diffusers' original_size, crops_coords_top_left, target_size); null means what
  // diffusers uses: the image's own size, and crop (0, 0). Refused for models without it.
  originalSize: imageSize,
  crop: z
    .strictObject({ left: z.int().min(0).max(MICRO_MAX), top: z.int().min(0).max(MICRO_MAX) })
    .nullable()
    .default(null),
  targetSize: imageSize,
});
/** A complete text-to-image request, every default filled in. */
export type GenerateRequest = z.infer<typeof GenerateRequest>;
/** What a client may send: only `prompt` is required. */
export type GenerateRequestInput = z.input<typeof GenerateRequest>;

type Issue = z.core.$ZodRawIssue;

// Short messages in the form a person would write, instead of zod's "Too big: expected number to be <=1000".
const messageOf = (iss: Issue): string | undefined => {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      if (iss.expected === 'int') return 'must be an integer';
      return `must be ${/^[aeiou]/.test(iss.expected) ? 'an' : 'a'} ${iss.expected}`;
    case 'too_big':
    case 'too_small': {
      const big = iss.code === 'too_big';
      const limit = big ? iss.maximum : iss.minimum;
      if (iss.origin === 'string' && !big && limit === 1) return 'must not be empty';
      const unit = iss.origin === 'array' ? ' items' : iss.origin === 'string' ? ' characters' : '';
      if (unit) return `must have ${big ? 'at most' : 'at least'} ${limit}${unit}`;
      return `must be ${big ? (iss.inclusive === false ? '<' : '≤') : iss.inclusive === false ? '>' : '≥'} ${limit}`;
    }
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return 'is not a known field';
    default:
      return undefined; // zod's own message (custom refinements carry theirs)
  }
};

// "embeddings[0]", "steps"; an unknown key has an empty path, so the key itself is the field.
const fieldOf = (i: z.core.$ZodIssue): string => {
  const path = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]] : i.path;
  return path.map((p, n) => (typeof p === 'number' ? `[${p}]` : n === 0 ? String(p) : `.${String(p)}`)).join('');
};

/**
 * Parses any value with a request schema; failures become PipelineError('bad_request') whose message names the
 * first bad field and whose details hold `field` and every issue.
 * @example parseRequest(GenerateRequest, { prompt: 'a cat', steps: 2000 }) // throws "steps: must be ≤ 1000"
 */
export const parseRequest = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
  const r = schema.safeParse(value, { error: messageOf });
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ field: fieldOf(i), message: i.message }));
  const first = issues[0];
  throw new PipelineError(
    'bad_request',
    first.field ? `${first.field}: ${first.message}` : `request ${first.message}`,
    {
      field: first.field,
      issues,
    },
  );
};

/**
 * Parses a generate request (see `GenerateRequest`), filling defaults.
 * @throws PipelineError('bad_request') naming the field.
 * @example parseGenerateRequest({ prompt: 'a photo of <cat-toy>' }).steps // 50
 */
export const parseGenerateRequest = (value: unknown): GenerateRequest => parseRequest(GenerateRequest, value);
