import { hostname } from 'node:os';
import { PipelineError } from '../../../common/errors.ts';
import { connectRedis } from '../../queue/connection.ts';
import { JobKind } from '../../queue/jobs.ts';
import { startWorker } from '../../queue/worker.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'worker',
  summary:
    'Run queued runs (generate, train, pretrain, pipelines) from Redis for `pseudoword serve --queue`; any number of workers on any number of machines.',
  usage:
    'worker --queue redis://host:6379 [--concurrency 1] [--device cpu|cuda] [--kinds generate,train,pretrain,pipeline] [--out-root ./runs]',
  options: {
    queue: { type: 'string', arg: 'url', help: 'the Redis the API processes enqueue into (redis://host:port[/db])' },
    concurrency: { type: 'string', default: '1', arg: 'n', help: 'runs this worker executes at once' },
    device: { type: 'string', default: 'cpu', arg: 'cpu|cuda', help: 'where this worker runs models' },
    kinds: {
      type: 'string',
      default: 'generate,train,pretrain,pipeline',
      arg: 'list',
      help: 'which kinds of run to take (pipeline: POST /v1/pipelines/run)',
    },
    'out-root': {
      type: 'string',
      default: './runs',
      arg: 'dir',
      help: 'local folder for run outputs (checkpoints also go to Redis)',
    },
    'job-timeout': {
      type: 'string',
      arg: 'minutes',
      help: 'stop and fail a run that takes longer (default: no limit)',
    },
    'lock-seconds': {
      type: 'string',
      default: '30',
      arg: 's',
      help: 'how soon another worker takes over the job of a worker that died',
    },
    'open-lock-minutes': {
      type: 'string',
      default: '15',
      arg: 'min',
      help: "how long a job's lock is held while its sessions open (onnxruntime blocks the worker meanwhile)",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const url = v.queue as string | undefined;
  if (!url) throw new PipelineError('bad_request', '--queue: give the Redis URL, e.g. --queue redis://127.0.0.1:6379');
  const device = v.device as string;
  if (device !== 'cpu' && device !== 'cuda')
    throw new PipelineError('bad_request', `--device: '${device}' is not cpu or cuda`);
  const kinds = (v.kinds as string).split(',').map((k) => {
    const parsed = JobKind.safeParse(k.trim());
    if (!parsed.success) throw new PipelineError('bad_request', `--kinds: '${k}' is not ${JobKind.options.join(', ')}`);
    return parsed.data;
  });
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const redis = await connectRedis(url);
  const timeout = num(v['job-timeout'], 'job-timeout', { min: 0 });
  const w = await startWorker({
    url,
    redis,
    device,
    kinds,
    concurrency: num(v.concurrency, 'concurrency', { int: true, min: 1 }),
    outRoot: v['out-root'] as string,
    jobTimeoutMs: timeout ? timeout * 60_000 : undefined,
    lockMs: (num(v['lock-seconds'], 'lock-seconds', { min: 1 }) ?? 30) * 1000,
    openLockMs: (num(v['open-lock-minutes'], 'open-lock-minutes', { min: 0 }) ?? 15) * 60_000,
    log,
  });
  process.stdout.write(`pseudoword worker ${hostname()}:${process.pid} taking ${kinds.join(', ')} runs from ${url}\n`);
  const stop = async () => {
    await w.close();
    redis.disconnect();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await new Promise(() => {}); // until stopped
};
