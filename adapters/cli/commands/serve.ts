import { limits } from '../../../common/limits.ts';
import { serve } from '../../serve.ts';
import { serverApp } from '../../server-app.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'serve',
  summary:
    'Serve the HTTP API and the viewer: POST /v1/generate, /v1/train and /v1/pretrain stream msgpack frames; /v1/runs lists, re-attaches, cancels.',
  usage:
    'serve [--host 127.0.0.1] [--port 8787] [--images-root <dir>]… [--out-root ./runs] [--model-root <dir>]… [--auth-token <t>] [options]',
  options: {
    host: {
      type: 'string',
      default: '127.0.0.1',
      arg: 'addr',
      help: 'address to bind (loopback by default; any other address needs --auth-token)',
    },
    port: { type: 'string', default: '8787', arg: 'n', help: 'port' },
    'images-root': {
      type: 'string',
      multiple: true,
      arg: 'dir',
      help: 'folder a train request may read images (and a generation embeddings) from (repeatable; default: the current folder)',
    },
    'out-root': {
      type: 'string',
      default: './runs',
      arg: 'dir',
      help: 'folder training runs write into (<out-root>/<run id> unless a request names one inside it)',
    },
    'max-upload-mb': {
      type: 'string',
      default: String(limits.uploadBytes / 2 ** 20),
      arg: 'n',
      help: 'largest multipart image upload, in MiB',
    },
    'model-root': {
      type: 'string',
      multiple: true,
      arg: 'dir',
      help: "folder a request may name as its model (repeatable; default: the current folder; 'tiny' always works)",
    },
    'auth-token': {
      type: 'string',
      arg: 'token',
      help: 'require Authorization: Bearer <token> on /v1/ (default: $PSEUDOWORD_TOKEN; required off loopback)',
    },
    'allowed-host': {
      type: 'string',
      multiple: true,
      arg: 'name',
      help: 'another host name the server answers to, besides the bound address and localhost (repeatable)',
    },
    'allow-origin': {
      type: 'string',
      multiple: true,
      arg: 'url',
      help: 'a web origin (scheme://host:port) whose pages may start and cancel runs here (repeatable)',
    },
    'max-runs': { type: 'string', default: '1', arg: 'n', help: 'runs executing at once; more wait in a queue' },
    'max-queued': {
      type: 'string',
      default: '16',
      arg: 'n',
      help: 'runs waiting for a slot; past that, requests get 429 with Retry-After',
    },
    'max-request-gib': {
      type: 'string',
      arg: 'n',
      help: "working memory one request may need, by the server's estimate (default: half this machine's memory)",
    },
    queue: {
      type: 'string',
      arg: 'url',
      help: 'redis://host:port: runs become jobs for `pseudoword worker`s, and any number of API processes share them',
    },
    'upload-dir': {
      type: 'string',
      arg: 'dir',
      help: "where uploads wait while their run lasts; outside every root (default: the system's temporary folder)",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const token = (v['auth-token'] as string | undefined) ?? process.env.PSEUDOWORD_TOKEN ?? undefined;
  const gib = num(v['max-request-gib'], 'max-request-gib', { min: 0 });
  const host = v.host as string;
  const { app, paths, uploadRoot, maxRequestBytes, close } = await serverApp({
    host,
    imageRoots: (v['images-root'] as string[] | undefined) ?? ['.'],
    outRoot: v['out-root'] as string,
    modelRoots: (v['model-root'] as string[] | undefined) ?? ['.'],
    maxUploadBytes: Math.floor((num(v['max-upload-mb'], 'max-upload-mb', { min: 0 }) ?? 50) * 2 ** 20),
    allowedHosts: v['allowed-host'] as string[] | undefined,
    allowOrigins: v['allow-origin'] as string[] | undefined,
    token: token || undefined,
    maxRuns: num(v['max-runs'], 'max-runs', { int: true, min: 1 }),
    maxQueued: num(v['max-queued'], 'max-queued', { int: true, min: 0 }),
    maxRequestBytes: gib === undefined ? undefined : gib * 2 ** 30,
    uploadRoot: v['upload-dir'] as string | undefined,
    queue: v.queue as string | undefined,
    log,
  });
  const server = await serve(app, { host, port: num(v.port, 'port', { int: true, min: 0 }) });
  process.stdout.write(`pseudoword listening on ${server.url}\n`);
  if (token) process.stdout.write(`  viewer: ${server.url}/#token=<your token> (the page keeps it for the tab)\n`);
  process.stdout.write(
    `  images from: ${paths.roots.images.join(', ')}\n  models from: tiny, ${paths.roots.models.join(', ')}\n` +
      `  runs into:   ${paths.roots.out}\n  uploads in:  ${uploadRoot}\n` +
      `  per request: ${(maxRequestBytes / 2 ** 30).toFixed(1)} GiB of working memory at most\n` +
      (v.queue ? `  runs go to:  ${v.queue} (run \`pseudoword worker --queue ${v.queue}\` to execute them)\n` : ''),
  );
  // Stopped (Ctrl-C, a service manager): the run store's last frames are written, Redis is let go. Runs still
  // going end as 'interrupted' and can be resumed by the next server (or, with --queue, go on on their workers).
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await new Promise(() => {}); // until stopped
};
