/**
 * Items on the wire. Input frames become the first stage's items (an `image` frame is an image file for
 * decode-image, or decoded pixels for a stage that takes `image`; a `latent` frame is a latent); results become
 * frames (images as PNG `image` frames, latents as `latent` frames whose `step` is the item's index in the
 * stream, `of` 0 — a stream's length is not known — and `timestep` its noise level, 0 when clean).
 */
import { PipelineError } from '../../common/errors.ts';
import { tensorFromWire, tensorToWire, type Frame } from '../../common/frames.ts';
import { decodePng, encodePng } from '../../common/image/png.ts';
import { floatArray } from '../../common/numerics/half.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import type { ItemOf, StreamKind } from '../../common/stream-items.ts';
import type { FirstStage } from './input-kinds.ts';

const expected: Partial<Record<StreamKind, Frame['type']>> = {
  'image-file': 'image',
  image: 'image',
  latent: 'latent',
};

// Stages compute in float32; a float16 latent (from a half-precision model) is widened on the way in.
const float32Of = (t: Tensor, position: number): Tensor<'float32'> => {
  if (t.dtype === 'float32') return t as Tensor<'float32'>;
  if (t.dtype === 'float16') return tensor('float32', t.dims, floatArray(t.data as Uint16Array));
  throw new PipelineError(
    'bad_request',
    `input frame ${position}: a latent must be float32 or float16, not ${t.dtype}`,
    { field: 'input' },
  );
};

/**
 * The item a frame stands for, as the first stage of kind `kind` takes it; `position` is the item's place in
 * the input stream (latent frames carry no index of their own). `progress` and `done` frames stand for nothing
 * (undefined), so one pipeline's output can be piped into the next; an `error` frame ends the input with its error.
 * `first`, when given, is the stage that kind is for; a refusal names it in its details.
 * @throws PipelineError('bad_request') when the frame is not the type that kind needs.
 * @example await frameToItem('latent', latentFrame, 0) // { index: 0, name: 'latent-0', latents, timestep }
 */
export const frameToItem = async (
  kind: StreamKind,
  frame: Frame,
  position: number,
  first?: FirstStage,
): Promise<unknown> => {
  const want = expected[kind];
  if (kind === 'frame') return frame;
  if (frame.type === 'progress' || frame.type === 'done') return undefined;
  if (frame.type === 'error')
    throw new PipelineError(frame.code, `the input stream failed: ${frame.message}`, frame.details);
  // The messages predate `first` and clients match them; the stage goes in the details.
  const refusal = { field: 'input', received: frame.type, ...(first ? { stage: 0, use: first.use } : {}) };
  if (!want) throw new PipelineError('bad_request', `input frame ${position}: this pipeline takes no input`, refusal);
  if (frame.type !== want)
    throw new PipelineError(
      'bad_request',
      `input frame ${position} is a '${frame.type}' frame; this pipeline's first stage takes '${want}' frames`,
      { ...refusal, accepts: [want] },
    );
  if (frame.type === 'latent')
    return {
      index: position,
      name: `latent-${position}`,
      latents: float32Of(tensorFromWire(frame.tensor), position),
      timestep: frame.timestep,
    } satisfies ItemOf['latent'];
  if (frame.type !== 'image') throw new PipelineError('internal', 'unreachable');
  const name = `image-${frame.index}.png`;
  if (kind === 'image-file') return { index: position, name, bytes: frame.png } satisfies ItemOf['image-file'];
  return { index: position, name, image: await decodePng(frame.png) } satisfies ItemOf['image'];
};

/**
 * The frame a result is sent as.
 * @example await itemToFrame('latent', latentItem, 'r1') // { type: 'latent', runId: 'r1', step: 0, of: 0, … }
 */
export const itemToFrame = async (kind: StreamKind, item: unknown, runId: string): Promise<Frame> => {
  switch (kind) {
    case 'frame':
      return item as Frame;
    case 'latent': {
      const l = item as ItemOf['latent'];
      return { type: 'latent', runId, step: l.index, of: 0, timestep: l.timestep, tensor: tensorToWire(l.latents) };
    }
    case 'image': {
      const { index, image } = item as ItemOf['image'];
      return { type: 'image', runId, index, width: image.width, height: image.height, png: await encodePng(image) };
    }
    case 'image-file': {
      const f = item as ItemOf['image-file'];
      const img = await decodePng(f.bytes).catch(() => undefined);
      if (!img) throw new PipelineError('bad_image', `${f.name}: only PNG files can be sent back as image frames`);
      return { type: 'image', runId, index: f.index, width: img.width, height: img.height, png: f.bytes };
    }
    default:
      throw new PipelineError('internal', `nothing to send for kind '${kind}'`);
  }
};
