/**
 * What a run looks like from outside without its frames: kind, state, how far it got, what it wrote. The server
 * answers `GET /v1/runs` and `GET /v1/runs/:id` with it; a client can validate it with the same schema.
 */
import { z } from 'zod';
import { embeddingFileName } from '../../weights/training/checkpoint-files.ts';
import type { Frame } from '../../common/frames.ts';

/** Which pipeline a run runs. */
export const RunKind = z.enum(['train', 'generate', 'pretrain']);
/** Which pipeline a run runs. */
export type RunKind = z.infer<typeof RunKind>;

/**
 * Where a run is in its life: `running` until it ends, then one of the others. `interrupted`: the server stopped
 * while it ran (a registry restored from its store says so); an interrupted training run may be resumed, which
 * makes it `running` again under the same id.
 */
export const RunState = z.enum(['running', 'done', 'failed', 'cancelled', 'interrupted']);
/** Where a run is in its life. */
export type RunState = z.infer<typeof RunState>;

/** A run's status as JSON. Times are ISO strings; `loss` is null when the last loss was not finite. */
export const RunStatus = z.object({
  id: z.string().min(1),
  kind: RunKind,
  status: RunState,
  createdAt: z.string(),
  endedAt: z.string().optional(),
  /** The last step a progress or loss frame reported, and the total when one said it. */
  step: z.int().min(0),
  of: z.int().min(0).optional(),
  loss: z.number().nullable().optional(),
  /** The files of the latest checkpoint, and among them the embedding `GET /v1/runs/:id/embedding` serves. */
  files: z.array(z.string()),
  embedding: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** The `done` frame's summary. */
  summary: z.record(z.string(), z.unknown()).optional(),
  /** What the run was asked (token, prompt, model, steps…), as the server chose to describe it. */
  meta: z.record(z.string(), z.unknown()),
  /** How many times it was resumed, and when last. */
  resumes: z.int().min(1).optional(),
  resumedAt: z.string().optional(),
});
/** A run's status as JSON. */
export type RunStatus = z.infer<typeof RunStatus>;

const baseName = (p: string) => p.slice(Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\')) + 1);

// The diffusers name first; a run that writes another layout still names an embedding-looking file.
const embeddingOf = (files: string[]): string | undefined =>
  files.find((f) => baseName(f) === embeddingFileName) ??
  files.find((f) => /\.(safetensors|pt|bin)$/i.test(f) && !/-steps?-\d+\./.test(baseName(f)));

/**
 * The status after one more frame: step/of from progress and loss frames, files from checkpoints, the summary
 * from `done`, and the end state from `error` ('cancelled' and 'interrupted' keep their own state, every other
 * code is 'failed').
 * A training run's step is its optimizer step: its validation samples stream denoising progress of their own
 * (phase 'validate'), which is not the run's, so only 'train' progress counts there.
 * @example statusAfter(s, { type: 'loss', runId: 'r', step: 3, loss: 0.1, lr: 1e-3, gradNorm: 1, embeddingNorm: 1
 * }).step // 3
 */
export const statusAfter = (s: RunStatus, f: Frame): RunStatus => {
  switch (f.type) {
    case 'progress':
      return s.kind === 'train' && f.phase !== 'train' ? s : { ...s, step: f.step, of: f.of };
    case 'loss':
      return { ...s, step: f.step, loss: Number.isFinite(f.loss) ? f.loss : null };
    case 'checkpoint': {
      const embedding = embeddingOf(f.files);
      return { ...s, files: [...f.files], ...(embedding ? { embedding } : {}) };
    }
    case 'done':
      return { ...s, status: 'done', summary: f.summary };
    case 'error':
      return {
        ...s,
        status: f.code === 'cancelled' || f.code === 'interrupted' ? f.code : 'failed',
        error: { code: f.code, message: f.message },
      };
    default:
      return s;
  }
};
