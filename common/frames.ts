/**
 * Frames: everything a run tells the outside world, one zod schema per kind, told apart by `type`. A frame is
 * what travels over the wire (msgpack), so it holds only msgpack-native values: numbers, strings, records and
 * `Uint8Array` bytes. Tensors travel as raw little-endian bytes plus dtype and dims (`WireTensor`).
 */
import { z } from 'zod';
import { PipelineError, type ErrorCode } from './errors.ts';
import { sizeOf, type DType, type Tensor, type TensorData } from './tensor.ts';

const bytesPerElement = { float32: 4, float16: 2, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1, float64: 8 } as const;
const typedArrayOf = {
  float32: Float32Array,
  float16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  bool: Uint8Array,
  float64: Float64Array,
} as const;

// Keys checked against ErrorCode both ways by `satisfies`, so adding a code in errors.ts fails typechecking here
// until the wire learns it too.
const errorCodeSet = {
  bad_request: 1,
  not_found: 1,
  bad_model: 1,
  unsupported_op: 1,
  shape_mismatch: 1,
  bad_image: 1,
  bad_embedding: 1,
  device_unavailable: 1,
  numeric: 1,
  cancelled: 1,
  interrupted: 1,
  conflict: 1,
  forbidden: 1,
  unauthorized: 1,
  unsupported_media_type: 1,
  busy: 1,
  too_large: 1,
  io: 1,
  internal: 1,
} satisfies Record<ErrorCode, 1>;

// Not z.instanceof: that types bytes as Uint8Array<ArrayBuffer>, and decoded views may sit on any buffer.
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be bytes');
const count = z.int().min(0);
const runId = z.string().min(1);

/** A tensor on the wire: dtype, dims and the elements as little-endian raw bytes. */
export const WireTensor = z
  .object({
    dtype: z.enum(Object.keys(bytesPerElement) as [DType, ...DType[]]),
    dims: z.array(count),
    data: bytes,
  })
  .refine((t) => t.data.byteLength === sizeOf(t.dims) * bytesPerElement[t.dtype], {
    message: 'data length does not match dtype and dims',
    path: ['data'],
  });
/** A tensor on the wire: dtype, dims and the elements as little-endian raw bytes. */
export type WireTensor = z.infer<typeof WireTensor>;

/** What a preview image shows: the predicted clean image x̂₀, the current noisy latent, or the model output. */
export const PreviewKind = z.enum(['x0', 'noised', 'predicted']);
/** What a preview image shows: the predicted clean image x̂₀, the current noisy latent, or the model output. */
export type PreviewKind = z.infer<typeof PreviewKind>;

/** A latent after denoising step `step` of `of` (1-based), at scheduler timestep `timestep`. */
export const LatentFrame = z.object({
  type: z.literal('latent'),
  runId,
  step: count,
  of: count,
  timestep: z.number(),
  tensor: WireTensor,
});

/** A small picture of the run so far; `format` says whether `data` is a PNG file or raw RGBA8 pixels. */
export const PreviewFrame = z
  .object({
    type: z.literal('preview'),
    runId,
    step: count,
    of: count,
    kind: PreviewKind,
    width: count,
    height: count,
    format: z.enum(['png', 'rgba']),
    data: bytes,
  })
  .refine((f) => f.format === 'png' || f.data.byteLength === f.width * f.height * 4, {
    message: 'rgba data length is not width × height × 4',
    path: ['data'],
  });

/** A finished image (`index` within the batch) as a PNG file. */
export const ImageFrame = z.object({
  type: z.literal('image'),
  runId,
  index: count,
  width: count,
  height: count,
  png: bytes,
});

/** Where the run is: `phase` names the stage ('load', 'encode', 'denoise', 'decode', 'train', …). */
export const ProgressFrame = z.object({
  type: z.literal('progress'),
  runId,
  step: count,
  of: count,
  phase: z.string().min(1),
  elapsedMs: z.number().min(0),
  itPerSec: z.number().min(0).optional(),
});

/** The run ended normally; `summary` carries whatever the run wants to report (seed, timings, paths…). */
export const DoneFrame = z.object({ type: z.literal('done'), runId, summary: z.record(z.string(), z.unknown()) });

/** The run failed: a PipelineError as data. `runId` is missing only when the failure came before a run had one. */
export const ErrorFrame = z.object({
  type: z.literal('error'),
  runId: runId.optional(),
  code: z.enum(Object.keys(errorCodeSet) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/**
 * One training step's numbers: the loss, learning rate, gradient norm and the learned vectors' norm (textual
 * inversion). Pretraining, which learns whole networks and no embedding, leaves `embeddingNorm` out and names its
 * `phase` ('vae', 'decoder', 'diffusion'); `terms` carries the loss's parts (the VAE's `rec` and `kl`).
 */
export const LossFrame = z.object({
  type: z.literal('loss'),
  runId,
  step: count,
  loss: z.number(),
  lr: z.number(),
  gradNorm: z.number(),
  embeddingNorm: z.number().optional(),
  phase: z.string().min(1).optional(),
  terms: z.record(z.string(), z.number()).optional(),
});

/** A validation pass during training: an optional held-out loss and sample images (PNG) with their prompts. */
export const ValidationFrame = z.object({
  type: z.literal('validation'),
  runId,
  step: count,
  loss: z.number().optional(),
  images: z.array(z.object({ prompt: z.string().optional(), width: count, height: count, png: bytes })),
});

/** Learned vectors were saved: the files written (paths as the run names them) and their total size. */
export const CheckpointFrame = z.object({
  type: z.literal('checkpoint'),
  runId,
  step: count,
  files: z.array(z.string().min(1)).min(1),
  bytes: count.optional(),
});

/** Any frame, discriminated by `type`. Decoders validate every frame against this before handing it on. */
export const Frame = z.discriminatedUnion('type', [
  LatentFrame,
  PreviewFrame,
  ImageFrame,
  ProgressFrame,
  DoneFrame,
  ErrorFrame,
  LossFrame,
  ValidationFrame,
  CheckpointFrame,
]);
/** Any frame, discriminated by `type`. */
export type Frame = z.infer<typeof Frame>;
/** The frame whose `type` is `T`, e.g. `FrameOf<'loss'>`. */
export type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;

/**
 * Frames that only describe "where the run is now": a newer one makes an older one worthless, so a slow
 * consumer may be sent only the newest. Everything else (loss, image, validation, checkpoint, done, error) is
 * a record and is never dropped.
 */
export const isDroppable = (f: Frame): f is FrameOf<'latent' | 'preview' | 'progress'> =>
  f.type === 'latent' || f.type === 'preview' || f.type === 'progress';

// Typed arrays use the host's byte order; the wire is little-endian. Every host we run on is little-endian,
// but a swap keeps the wire format honest if that ever changes.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const swapped = (b: Uint8Array, width: number): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(b.byteLength);
  for (let i = 0; i < b.byteLength; i += width) for (let j = 0; j < width; j++) out[i + j] = b[i + width - 1 - j];
  return out;
};

/**
 * A tensor as wire bytes. On little-endian hosts `data` is a view of the tensor's memory (no copy), so do not
 * mutate the tensor until the frame is encoded.
 * @example tensorToWire(float32([2], [1, 2])) // { dtype: 'float32', dims: [2], data: Uint8Array(8) }
 */
export const tensorToWire = (t: Tensor): WireTensor => {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const width = bytesPerElement[t.dtype];
  return { dtype: t.dtype, dims: [...t.dims], data: hostIsLittleEndian || width === 1 ? view : swapped(view, width) };
};

/**
 * The tensor a wire tensor describes. Always copies: decoded bytes are views into the decoder's chunk, often at
 * an offset a typed array cannot be aligned to, and a tensor should own its memory.
 * @throws PipelineError('shape_mismatch') when the byte length does not fit dtype × dims.
 * @example tensorFromWire({ dtype: 'int32', dims: [1], data: new Uint8Array([7, 0, 0, 0]) }).data // Int32Array [7]
 */
export const tensorFromWire = (w: WireTensor): Tensor => {
  const width = bytesPerElement[w.dtype];
  if (w.data.byteLength !== sizeOf(w.dims) * width) {
    throw new PipelineError(
      'shape_mismatch',
      `wire tensor has ${w.data.byteLength} bytes, ${w.dtype}[${w.dims.join(',')}] needs ${sizeOf(w.dims) * width}`,
    );
  }
  const owned = hostIsLittleEndian || width === 1 ? w.data.slice() : swapped(w.data, width);
  const data = new typedArrayOf[w.dtype](owned.buffer, 0, sizeOf(w.dims)) as TensorData[DType];
  return { dtype: w.dtype, dims: [...w.dims], data };
};

/**
 * Validates an unknown value (e.g. a decoded msgpack object) as a frame.
 * @throws PipelineError('io') naming the frame type and the first bad field.
 * @example parseFrame({ type: 'done', runId: 'r1', summary: {} }) // typed DoneFrame
 */
export const parseFrame = (value: unknown): Frame => {
  const r = Frame.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const type = typeof value === 'object' && value !== null && 'type' in value ? String(value.type) : '?';
  throw new PipelineError('io', `bad ${type} frame: ${issue.path.join('.') || '(frame)'}: ${issue.message}`, {
    issues: r.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
};
