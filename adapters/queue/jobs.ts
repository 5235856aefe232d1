/**
 * What travels in a queue job: the run's kind and id and the request as the API process checked it. Priorities
 * put a waiting generation before a waiting training run before pretraining; retries are for transient failures
 * only, and a job whose worker vanished is picked up again by BullMQ's stalled-job check.
 */
import { z } from 'zod';
import { RunKind } from '../../pipeline/runs/run-status.ts';

export const RunJob = z.object({
  kind: RunKind,
  id: z.string().min(1),
  /** The parsed, path-checked request (GenerateRequest, TrainRequest or PretrainRequest). */
  request: z.record(z.string(), z.unknown()),
  /** The pipeline description, when the request had one. */
  pipeline: z.unknown().optional(),
});
export type RunJob = z.infer<typeof RunJob>;

/** BullMQ priorities: lower runs first. */
export const priorities: Record<RunKind, number> = { generate: 1, train: 5, pretrain: 10 };

/** Error codes worth another attempt: the machine's trouble, not the request's. */
export const transientCodes = new Set(['io', 'internal', 'device_unavailable', 'too_large']);
