/**
 * What a checkpoint writes: the embedding in the chosen layout (a per-step copy and the latest), and the full
 * training state — vectors, optimizer moments (float64, exact), step, best validation — with a fingerprint of
 * the model and token, so `--resume` continues bit for bit and refuses a different model or token.
 *
 * The files are written one by one (each atomically), in the order `checkpointFiles` lists them, and the state
 * comes last: a state that says step N exists only once both embedding files of step N are complete. A kill
 * between two files therefore leaves the previous state, a complete checkpoint of its own, for resume to start
 * from. A fresh run writes its step-0 state before its first step (`stateFile`), so even a run killed while
 * writing its first checkpoint has one.
 */
import { PipelineError } from '../../common/errors.ts';
import { writeEmbedding, type EmbeddingLayout } from '../embeddings/embedding-file.ts';
import { parseLossScale } from '../../common/train/loss-scale.ts';
import type { TrainState } from '../../common/train/train-state.ts';
import { trainedEmbedding } from './xl-vectors.ts';
import { loraFileName, writeLora } from '../lora/lora-file.ts';
import type { LoraLayerSpec } from '../lora/lora-params.ts';

export const stateFileName = 'training-state.json';
export const embeddingFileName = 'learned_embeds.safetensors';

const b64 = (a: ArrayBufferView) => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/**
 * The settings that shape a run's numbers besides the model and token: resuming with another one gives a run
 * that neither run would have been, so a resume refuses a change unless told otherwise.
 */
export interface CheckpointSettings {
  /** The base learning rate (after `scaleLr`). */
  lr: number;
  schedule: string;
  warmup: number;
  /** The run's length: the linear and cosine schedules decay over it (a constant one ignores it). */
  steps: number;
}

export interface CheckpointIdentity {
  token: string;
  count: number;
  dim: number;
  /** SDXL: text_encoder_2's width (the state's vectors hold both sets; the embedding is `{clip_l, clip_g}`). */
  dim2?: number;
  seed: number;
  model: string; // fingerprint of the model graphs
  /** Absent in states written before it was recorded; such states are resumed without comparing them. */
  settings?: CheckpointSettings;
  /** The inversion method (absent: ti, as every state written before methods existed). */
  method?: string;
  /** p-plus: the cross-attention layers, one vector set each (the vectors are [layers × count × dim]). */
  layers?: readonly string[];
  /** Pivotal tuning's LoRA (absent for textual inversion): its shape, schedule and layers. */
  lora?: LoraIdentity;
}

/** What fixes a pivotal run's LoRA: a resume with any other value is refused. */
export interface LoraIdentity {
  rank: number;
  alpha: number;
  fraction: number;
  lr: number;
  layers: LoraLayerSpec[];
}

/** The training state file's bytes. */
export const stateFile = (state: TrainState, id: CheckpointIdentity): Uint8Array => {
  const json = {
    version: 1,
    ...id,
    step: state.step,
    best: state.best ?? null,
    last: state.last ?? null,
    vectors: b64(state.vectors),
    ...(state.bestVectors ? { bestVectors: b64(state.bestVectors) } : {}),
    ...(state.bestLora ? { bestLora: b64(state.bestLora) } : {}),
    optimizer: { step: state.optimizer.step, m: b64(state.optimizer.m), v: b64(state.optimizer.v) },
    ...(state.lossScale ? { lossScale: state.lossScale } : {}),
    ...(state.lora
      ? {
          loraState: {
            params: b64(state.lora.params),
            optimizer: {
              step: state.lora.optimizer.step,
              m: b64(state.lora.optimizer.m),
              v: b64(state.lora.optimizer.v),
            },
          },
        }
      : {}),
  };
  return new TextEncoder().encode(JSON.stringify(json));
};

export const checkpointFiles = (
  state: TrainState,
  id: CheckpointIdentity,
  layout: EmbeddingLayout,
  final: boolean,
): Record<string, Uint8Array> => {
  const embedding = embeddingBytes(state.vectors, state.step, id, layout);
  const lora = state.lora && loraBytes(state.lora.params, id, layout);
  // Write order: the embeddings, then the state (see the top of this file). No key is an integer, so the
  // object keeps this order.
  return {
    ...(final ? {} : { [`learned_embeds-steps-${state.step}.safetensors`]: embedding }),
    [embeddingFileName]: embedding,
    ...(lora && !final ? { [`lora-steps-${state.step}.safetensors`]: lora } : {}),
    ...(lora ? { [loraFileName]: lora } : {}),
    [stateFileName]: stateFile(state, id),
  };
};

/** Pivotal tuning's LoRA file of `params` (kohya keys unless the layout is diffusers'); undefined without a LoRA. */
export const loraBytes = (params: Float32Array, id: CheckpointIdentity, layout: EmbeddingLayout) =>
  id.lora
    ? writeLora(
        { shape: { rank: id.lora.rank, alpha: id.lora.alpha }, layers: id.lora.layers, params },
        layout === 'diffusers' ? 'diffusers' : 'kohya',
      )
    : undefined;

/** The embedding file of `vectors` (SDXL: the clip_l/clip_g pair; P+: every layer's set, p-plus-file.ts). */
export const embeddingBytes = (
  vectors: Float32Array,
  step: number,
  id: CheckpointIdentity,
  layout: EmbeddingLayout,
): Uint8Array => writeEmbedding(trainedEmbedding(id.token, vectors, id, step), layout);

/** How the saved seed and settings differ from this run's: one line per changed field, empty when none did. */
export const changedSettings = (
  saved: { seed?: unknown; settings?: Partial<CheckpointSettings> },
  id: CheckpointIdentity,
): { field: string; was: unknown; now: unknown }[] => {
  const out: { field: string; was: unknown; now: unknown }[] = [];
  if (saved.seed !== undefined && saved.seed !== id.seed) out.push({ field: 'seed', was: saved.seed, now: id.seed });
  const was = saved.settings;
  const now = id.settings;
  if (!was || !now) return out; // a state from before settings were recorded: nothing to compare
  for (const k of ['lr', 'schedule', 'warmup'] as const)
    if (was[k] !== undefined && was[k] !== now[k]) out.push({ field: k, was: was[k], now: now[k] });
  // The length only shapes a decaying schedule: a constant run may be resumed for more steps.
  const decays = (s: unknown) => s !== undefined && s !== 'constant';
  if ((decays(was.schedule) || decays(now.schedule)) && was.steps !== undefined && was.steps !== now.steps)
    out.push({ field: 'steps', was: was.steps, now: now.steps });
  return out;
};

/** How a resume treats a checkpoint made with other settings. */
export interface ResumeOptions {
  /** Continue even though the seed or the lr schedule changed (`--resume-with-changes`). */
  allowChanges?: boolean;
}

/**
 * Reads a training state back, checking it belongs to this model, token and shape, and that it was made with the
 * same seed, lr and schedule unless `allowChanges`.
 * @throws PipelineError('bad_request') naming the field that differs.
 */
export const readCheckpointState = (
  bytes: Uint8Array,
  id: CheckpointIdentity,
  { allowChanges = false }: ResumeOptions = {},
): TrainState => {
  let j: any;
  try {
    j = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new PipelineError('bad_request', `${stateFileName} is not valid JSON; cannot resume`);
  }
  const method = (x: { method?: string }) => x.method ?? 'ti';
  if (method(j) !== method(id))
    throw new PipelineError(
      'bad_request',
      `cannot resume: the checkpoint was made with method ${method(j)}, this run has ${method(id)}`,
      { field: 'method' },
    );
  for (const k of ['token', 'count', 'dim', 'dim2', 'model'] as const)
    if (j[k] !== id[k])
      throw new PipelineError(
        'bad_request',
        `cannot resume: the checkpoint was made with ${k} ${JSON.stringify(j[k])}, this run has ${JSON.stringify(id[k])}`,
      );
  if (JSON.stringify(j.lora ?? null) !== JSON.stringify(id.lora ?? null) || !!j.loraState !== !!id.lora)
    throw new PipelineError(
      'bad_request',
      `cannot resume: the checkpoint was made with ${j.lora ? `a LoRA (rank ${j.lora.rank}, alpha ${j.lora.alpha}, fraction ${j.lora.fraction}, lr ${j.lora.lr}, ${j.lora.layers?.length} layers)` : 'no LoRA'}, this run has ${id.lora ? `rank ${id.lora.rank}, alpha ${id.lora.alpha}, fraction ${id.lora.fraction}, lr ${id.lora.lr}, ${id.lora.layers.length} layers` : 'none'}`,
      { field: 'lora' },
    );
  const changed = changedSettings(j, id);
  if (changed.length && !allowChanges)
    throw new PipelineError(
      'bad_request',
      `cannot resume: ${changed.map((c) => `${c.field} was ${JSON.stringify(c.was)}, now ${JSON.stringify(c.now)}`).join('; ')} — resume with the checkpoint's values, or pass --resume-with-changes (resumeWithChanges: true) to go on with these`,
      { field: changed[0].field, changed: changed.map((c) => c.field) },
    );
  const f32 = unb64(j.vectors);
  const best32 = typeof j.bestVectors === 'string' ? unb64(j.bestVectors) : undefined;
  const bestLora = typeof j.bestLora === 'string' ? unb64(j.bestLora) : undefined;
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
    ...(best32 ? { bestVectors: new Float32Array(best32.buffer, 0, best32.byteLength / 4) } : {}),
    ...(bestLora ? { bestLora: new Float32Array(bestLora.buffer, 0, bestLora.byteLength / 4) } : {}),
    ...(j.last ? { last: j.last } : {}),
    ...(parseLossScale(j.lossScale) ? { lossScale: parseLossScale(j.lossScale) } : {}),
    ...(j.loraState ? { lora: readLoraState(j.loraState) } : {}),
  };
};

const readLoraState = (l: { params: string; optimizer: { step: number; m: string; v: string } }) => {
  const p = unb64(l.params);
  const m = unb64(l.optimizer.m);
  const v = unb64(l.optimizer.v);
  return {
    params: new Float32Array(p.buffer, 0, p.byteLength / 4),
    optimizer: {
      step: l.optimizer.step,
      m: new Float64Array(m.buffer, 0, m.byteLength / 8),
      v: new Float64Array(v.buffer, 0, v.byteLength / 8),
    },
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
