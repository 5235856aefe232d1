/**
 * Every Redis key the queue uses, in one place. A run's frames live in two streams: its records (never trimmed)
 * and its droppable previews (trimmed to the newest few), read together in id order.
 */
export const queueName = 'pseudoword-runs';

export const keys = {
  /** Sorted set: run id → creation time (ms), every run any API process started. */
  runs: 'pw:runs',
  /** Hash: kind, meta (JSON), state, worker, pid, attempts, checkpoints, createdAt, updatedAt, endedAt. */
  run: (id: string) => `pw:run:${id}`,
  records: (id: string) => `pw:run:${id}:records`,
  previews: (id: string) => `pw:run:${id}:previews`,
  /** Counter: the last sequence number given to one of the run's frames (their stream entry ids are `0-n`). */
  sequence: (id: string) => `pw:run:${id}:seq`,
  /** Hash: file name → bytes of the run's latest checkpoint (embedding and training state). */
  files: (id: string) => `pw:run:${id}:files`,
  /** Hash: file name → bytes of the run's training images (and captions), so any worker can train. */
  images: (id: string) => `pw:run:${id}:images`,
  /** List: a queued pipeline's input frames (msgpack), in order. */
  inputs: (id: string) => `pw:run:${id}:inputs`,
  /** Pub/sub channel: a run id to cancel. */
  cancel: 'pw:cancel',
};

/** Previews kept per run (approximately: Redis trims whole macro-nodes). */
export const previewsKept = 32;

/** How long a finished run's record, frames and checkpoint files stay in Redis (seconds): a week. */
export const runRetentionS = 7 * 24 * 3600;
