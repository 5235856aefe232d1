/**
 * A run's end in Redis: its final state, its training images or pipeline input dropped (they were only there for the workers), and
 * the rest — record, frames, checkpoint files — kept for `runRetentionS`, then expired by Redis itself, so a queue
 * that runs for months does not grow without bound.
 */
import type { Redis } from 'ioredis';
import { keys, runRetentionS } from './keys.ts';

export type EndState = 'done' | 'failed' | 'cancelled';

/** Writes a run's final state and starts its keys' retention clock. */
export const endRun = async (redis: Redis, id: string, state: EndState): Promise<void> => {
  await redis
    .multi()
    .hset(keys.run(id), { state, endedAt: new Date().toISOString() })
    .del(keys.images(id), keys.inputs(id))
    .expire(keys.run(id), runRetentionS)
    .expire(keys.records(id), runRetentionS)
    .expire(keys.previews(id), runRetentionS)
    .expire(keys.files(id), runRetentionS)
    .expire(keys.sequence(id), runRetentionS)
    .exec();
};

/** Forgets the run ids whose keys have expired, so listing stays as long as the retention. */
export const pruneRunIndex = (redis: Redis, now = Date.now()) =>
  redis.zremrangebyscore(keys.runs, '-inf', now - runRetentionS * 1000);
