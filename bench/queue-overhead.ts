/**
 * Queue overhead: a 50-step DDIM generation on `tiny` run in-process vs the same request through the queue — a
 * BullMQ job on a real Redis, taken by a worker, its frames written to Redis Streams and followed back — alternated
 * in one run (goal ≤ 1.05). The worker is a `pseudoword worker` process on this machine (loopback, no network), so
 * the ratio is what the queue adds: job hand-off, frame encoding, XADD and XREAD, decoding. Then frames/s through a run's streams (append → follow).
 * Needs Debian's redis-server. Prints a final JSON line.
 *
 *   npx bun bench/queue-overhead.ts [--rounds 5] [--steps 50] [--frames 5000]
 */
import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { openModel } from '../adapters/open-model.ts';
import { connectRedis } from '../adapters/queue/connection.ts';
import { appendFrame, followFrames } from '../adapters/queue/frame-log.ts';
import { queueRuns } from '../adapters/queue/queue-runs.ts';
import type { Frame } from '../common/frames.ts';
import { parseGenerateRequest } from '../common/requests.ts';
import { runGenerate } from '../pipeline/generate.ts';
import { haveRedis, startRedis } from '../test/support/redis-server.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '50' },
    frames: { type: 'string', default: '5000' },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const frameCount = Number(values.frames);
if (!haveRedis) {
  console.error('bench/queue-overhead needs redis-server (apt-get install redis-server)');
  process.exit(2);
}

const server = await startRedis();
const redis = await connectRedis(server.url);
const q = await queueRuns({ url: server.url, redis, pollMs: 1000 });
// The worker in its own process, as in use: `pseudoword worker`, started the way a user starts it.
const worker = Bun.spawn(
  [
    process.execPath,
    join(import.meta.dir, '../adapters/cli/main.ts'),
    'worker',
    '--queue',
    server.url,
    '--out-root',
    join(tmpdir(), 'pseudoword-bench-queue'),
  ],
  { stdout: 'pipe', stderr: 'inherit' },
);
const ready = worker.stdout.getReader();
for (let text = ''; !/taking .* runs/.test(text); ) {
  const { value, done } = await ready.read();
  if (done) throw new Error('the worker did not start');
  text += new TextDecoder().decode(value);
}

// The same request both ways, with the server's default frames (previews on), as a client of either would get.
const request = parseGenerateRequest({ prompt: 'a photo of a red star on a blue background', steps, seed: 1 });
const model = await openModel('tiny');
const inProcess = async () => {
  const t = performance.now();
  const frames = await lastValueFrom(
    runGenerate(request, { openModel: async () => model, newRunId: () => crypto.randomUUID() }, {}).pipe(toArray()),
  );
  return { ms: performance.now() - t, frames: frames.length };
};
const viaQueue = async () => {
  const t = performance.now();
  const frames = await lastValueFrom(q.submit('generate', crypto.randomUUID(), request, {}).pipe(toArray()));
  if (frames.at(-1)?.type !== 'done') throw new Error(`the queued run ended with ${JSON.stringify(frames.at(-1))}`);
  return { ms: performance.now() - t, frames: frames.length };
};

await inProcess(); // warm both paths (sessions, JIT, the worker's model cache)
await viaQueue();
const local: number[] = [];
const queued: number[] = [];
let framesPerRun = 0;
for (let i = 0; i < rounds; i++) {
  local.push((await inProcess()).ms);
  const r = await viaQueue();
  queued.push(r.ms);
  framesPerRun = r.frames;
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const ratio = median(queued) / median(local);
console.log(
  `in-process ${median(local).toFixed(1)} ms, through the queue ${median(queued).toFixed(1)} ms ` +
    `(median of ${rounds}; ${steps} steps, ${framesPerRun} frames a run) → ratio ${ratio.toFixed(3)} (goal ≤ 1.05)`,
);

// Frames/s through one run's streams: a writer appends records (loss frames), a follower reads them back live.
const id = crypto.randomUUID();
const t0 = performance.now();
const followed = lastValueFrom(followFrames(redis, id).pipe(toArray()));
for (let step = 1; step <= frameCount; step++)
  await appendFrame(redis, id, { type: 'loss', runId: id, step, loss: 1 / step, lr: 0.005, gradNorm: 1 });
await appendFrame(redis, id, { type: 'done', runId: id, summary: {} } as Frame);
const got = (await followed).length;
const secs = (performance.now() - t0) / 1000;
console.log(
  `Redis Streams: ${got} frames appended and followed in ${secs.toFixed(2)} s → ${(got / secs).toFixed(0)} frames/s`,
);

console.log(
  JSON.stringify({
    bench: 'queue-overhead',
    steps,
    rounds,
    inProcessMs: median(local),
    queuedMs: median(queued),
    overheadRatio: ratio,
    streamFrames: got,
    streamFramesPerSec: got / secs,
  }),
);
worker.kill();
await q.close();
redis.disconnect();
server.kill();
process.exit(0);
