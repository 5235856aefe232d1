/**
 * What travels in a queue job: the run's kind and id and the request as the API process checked it. Priorities
 * put a waiting generation before a waiting training run before pretraining; retries are for transient failures
 * only, and a job whose worker vanished is picked up again by BullMQ's stalled-job check.
 */
import { z } from 'zod';
import { RunKind } from '../../pipeline/runs/run-status.ts';

/** What a worker can be asked to run: the runs, and described stream pipelines (`POST /v1/pipelines/run`). */
export const JobKind = z.enum([...RunKind.options, 'pipeline']);
export type JobKind = z.infer<typeof JobKind>;

export const RunJob = z.object({
  kind: JobKind,
  id: z.string().min(1),
  /** The parsed, path-checked request (GenerateRequest, TrainRequest or PretrainRequest); {} for a pipeline. */
  request: z.record(z.string(), z.unknown()),
  /** The pipeline description, when the request had one (and always for a pipeline job). */
  pipeline: z.unknown().optional(),
  /**
   * A pipeline job's folders, as the API process that took it allows them: the worker checks the description's
   * model and embedding files against them with the same policy, since only it opens them.
   */
  roots: z.object({ images: z.array(z.string()), out: z.string(), models: z.array(z.string()) }).optional(),
});
export type RunJob = z.infer<typeof RunJob>;

/** BullMQ priorities: lower runs first. */
export const priorities: Record<JobKind, number> = { generate: 1, pipeline: 1, train: 5, pretrain: 10 };

/** Error codes worth another attempt: the machine's trouble, not the request's. */
export const transientCodes = new Set(['io', 'internal', 'device_unavailable', 'too_large']);
