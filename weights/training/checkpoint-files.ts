/**
 * What a checkpoint writes: the embedding in the chosen layout (a per-step copy and the latest), and the full
 * training state — vectors, optimizer moments (float64, exact), step, best validation — with a fingerprint of
 * the model and token, so `--resume` continues bit for bit and refuses a different model or token.
 */
import { PipelineError } from '../../common/errors.ts';
import { writeEmbedding, type EmbeddingLayout } from '../embeddings/embedding-file.ts';
import type { TrainState } from '../../common/train/train-state.ts';

export const stateFileName = 'training-state.json';
export const embeddingFileName = 'learned_embeds.safetensors';

const b64 = (a: ArrayBufferView) => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export interface CheckpointIdentity {
  token: string;
  count: number;
  dim: number;
  seed: number;
  model: string; // fingerprint of the model graphs
}

export const checkpointFiles = (
  state: TrainState,
  id: CheckpointIdentity,
  layout: EmbeddingLayout,
  final: boolean,
): Record<string, Uint8Array> => {
  const embedding = writeEmbedding(
    { token: id.token, vectors: state.vectors, count: id.count, dim: id.dim, step: state.step },
    layout,
  );
  const json = {
    version: 1,
    ...id,
    step: state.step,
    best: state.best ?? null,
    last: state.last ?? null,
    vectors: b64(state.vectors),
    optimizer: { step: state.optimizer.step, m: b64(state.optimizer.m), v: b64(state.optimizer.v) },
  };
  return {
    ...(final ? {} : { [`learned_embeds-steps-${state.step}.safetensors`]: embedding }),
    [embeddingFileName]: embedding,
    [stateFileName]: new TextEncoder().encode(JSON.stringify(json)),
  };
};

/** Reads a training state back, checking it belongs to this model, token and shape. */
export const readCheckpointState = (bytes: Uint8Array, id: CheckpointIdentity): TrainState => {
  let j: any;
  try {
    j = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new PipelineError('bad_request', `${stateFileName} is not valid JSON; cannot resume`);
  }
  for (const k of ['token', 'count', 'dim', 'model'] as const)
    if (j[k] !== id[k])
      throw new PipelineError(
        'bad_request',
        `cannot resume: the checkpoint was made with ${k} ${JSON.stringify(j[k])}, this run has ${JSON.stringify(id[k])}`,
      );
  const f32 = unb64(j.vectors);
  const m = unb64(j.optimizer.m);
  const v = unb64(j.optimizer.v);
  return {
    step: j.step,
    vectors: new Float32Array(f32.buffer, 0, f32.byteLength / 4),
    optimizer: {
      step: j.optimizer.step,
      m: new Float64Array(m.buffer, 0, m.byteLength / 8),
      v: new Float64Array(v.buffer, 0, v.byteLength / 8),
    },
    ...(j.best ? { best: j.best } : {}),
    ...(j.last ? { last: j.last } : {}),
  };
};

/** SHA-256 (hex, 16 chars) of the given bytes: identifies a model's graphs without hashing its weights files. */
export const fingerprint = async (...parts: Uint8Array[]): Promise<string> => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) all.set(p, o), (o += p.length);
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return Array.from(h.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
};
