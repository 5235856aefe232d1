/**
 * Checking what enters a pipeline. The compiler checks that each stage takes what the one before it emits, but
 * the kind of the input itself is known only when items arrive (a folder of images, frames off the wire), so the
 * runner checks each item against the first stage as it reads it: a stage handed the wrong kind would otherwise
 * crash on a missing field or, where the input is filtered on the way in, end quietly with no results.
 */
import { PipelineError } from '../../common/errors.ts';
import type { StreamKind } from '../../common/stream-items.ts';

/** The first stage as messages name it: its label ("stages[0] (vae-decode)"), its `use` and the kind it takes. */
export interface FirstStage {
  readonly label: string;
  readonly use: string;
  readonly input: StreamKind;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * The kind of a stream item, told by the fields that kind's items carry (`common/stream-items.ts`): `bytes` for
 * an image file, `image` pixels for an image, a `latents` tensor for a latent, a string `type` for a wire frame.
 * Undefined for anything else. (A wire `image` frame carries `png`, not `bytes`, so it reads as a frame.)
 * @example itemKindOf({ index: 0, name: 'a.png', bytes }) // 'image-file'
 */
export const itemKindOf = (v: unknown): Exclude<StreamKind, 'none'> | undefined => {
  if (!isObject(v)) return undefined;
  if (v.bytes instanceof Uint8Array) return 'image-file';
  if (isObject(v.image) && typeof v.image.width === 'number' && ArrayBuffer.isView(v.image.data)) return 'image';
  if (isObject(v.latents) && Array.isArray(v.latents.dims) && ArrayBuffer.isView(v.latents.data)) return 'latent';
  if (typeof v.type === 'string') return 'frame';
  return undefined;
};

const takes = (kind: StreamKind) => (kind === 'none' ? 'takes no input (it is a source)' : `takes '${kind}' items`);

/**
 * Throws unless `item`, the `position`-th input value, is of the kind `first` takes.
 * @throws PipelineError('bad_request') naming the kind received and the stage with the kind it takes, e.g.
 *   "input item 0 (a.png) is an 'image-file' item, but stages[0] (vae-decode) takes 'latent' items".
 */
export const checkInputItem = (first: FirstStage, item: unknown, position: number): void => {
  const kind = itemKindOf(item);
  if (first.input !== 'none' && kind === first.input) return;
  const name = isObject(item) && typeof item.name === 'string' && item.name ? ` (${item.name})` : '';
  const what = kind ? `is ${kind === 'image-file' ? 'an' : 'a'} '${kind}' item` : 'is not a stream item';
  throw new PipelineError(
    'bad_request',
    `input item ${position}${name} ${what}, but ${first.label} ${takes(first.input)}`,
    {
      field: 'input',
      received: kind ?? null,
      stage: 0,
      use: first.use,
      accepts: first.input === 'none' ? [] : [first.input],
    },
  );
};

/**
 * Throws for a pipeline whose first stage takes items but that was given no input at all, which would otherwise
 * finish at once with no results.
 */
export const checkInputGiven = (first: FirstStage): void => {
  if (first.input === 'none') return;
  throw new PipelineError('bad_request', `this pipeline was given no input, but ${first.label} ${takes(first.input)}`, {
    field: 'input',
    received: null,
    stage: 0,
    use: first.use,
    accepts: [first.input],
  });
};
