import { createApp } from '../../../pipeline/http/app.ts';
import { runGenerate } from '../../../pipeline/generate.ts';
import { serve } from '../../serve.ts';
import { loadEmbeddingsInto } from '../../load-embeddings.ts';
import { openModel } from '../../open-model.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'serve',
  summary: 'Serve the HTTP API (POST /v1/generate streams msgpack frames) on this machine.',
  usage: 'serve [--host 127.0.0.1] [--port 8787]',
  options: {
    host: { type: 'string', default: '127.0.0.1', arg: 'addr', help: 'address to bind (loopback by default)' },
    port: { type: 'string', default: '8787', arg: 'n', help: 'port' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const app = createApp({ generate: (req) => runGenerate(req, { openModel: (n, d) => openModel(n, d, log), withEmbeddings: loadEmbeddingsInto }) });
  const server = await serve(app, { host: v.host, port: num(v.port, 'port', { int: true, min: 0 }) });
  process.stdout.write(`pseudoword listening on ${server.url}\n`);
  await new Promise(() => {}); // until killed
};
