/**
 * The `pseudoword` command: a table of subcommands, each with its own --help. Errors print their code and
 * message (no stack) and exit non-zero.
 */
import { asPipelineError } from '../../common/errors.ts';
import { nearestName } from './nearest-name.ts';

const commands: Record<string, { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<void> }> }> = {
  demo: {
    summary: 'learn a word for an example concept and draw it in new prompts (the main job)',
    load: () => import('./commands/demo.ts'),
  },
  generate: {
    summary: 'generate an image from a prompt, streaming progress',
    load: () => import('./commands/generate.ts'),
  },
  train: {
    summary: 'learn a new word for a concept from a few images (textual inversion)',
    load: () => import('./commands/train.ts'),
  },
  serve: { summary: 'serve the HTTP API (frames as msgpack streams)', load: () => import('./commands/serve.ts') },
  worker: {
    summary: 'run queued jobs from Redis (BullMQ) for `serve --queue`',
    load: () => import('./commands/worker.ts'),
  },
  inspect: {
    summary: 'describe a model: inputs, outputs, op census, what cannot run',
    load: () => import('./commands/inspect.ts'),
  },
  run: {
    summary: 'run a pipeline description over a stream of images or latents',
    load: () => import('./commands/run.ts'),
  },
  eval: {
    summary: "the paper's protocol in miniature: inversion vs baselines, reconstruction vs editability",
    load: () => import('./commands/eval.ts'),
  },
  pretrain: {
    summary: 'train the embedded model tiny on the shape world (reproduces weights/shipped/tiny)',
    load: () => import('./commands/pretrain.ts'),
  },
  'train-recogniser': {
    summary: 'train the world recogniser used by eval (reproduces the shipped one)',
    load: () => import('./commands/train-recogniser.ts'),
  },
  'write-examples': {
    summary: 'write the example concept folders from their seed',
    load: () => import('./commands/write-examples.ts'),
  },
  grad: {
    summary: 'differentiate an ONNX model (reverse-mode autodiff, standard ops only)',
    load: () => import('./commands/grad.ts'),
  },
  tokenize: { summary: 'print the CLIP token ids of a text', load: () => import('./commands/tokenize.ts') },
  convert: {
    summary: 'convert a model folder to float16 (as an Optimum --dtype fp16 export)',
    load: () => import('./commands/convert.ts'),
  },
};

const usage = () =>
  `pseudoword — textual inversion and generation on onnxruntime\n\nUsage: pseudoword <command> [options]\n\nCommands:\n${Object.entries(
    commands,
  )
    .map(([k, c]) => `  ${k.padEnd(17)} ${c.summary}`)
    .join('\n')}\n\nRun 'pseudoword <command> --help' for a command's options.\n`;

const main = async (argv: string[]) => {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') return void process.stdout.write(usage());
  const c = commands[name];
  if (!c) {
    const near = nearestName(name, Object.keys(commands));
    process.stderr.write(
      `pseudoword: unknown command '${name}'${near ? ` — did you mean ${near}?` : ''}\n\n${usage()}`,
    );
    process.exit(2);
  }
  await (await c.load()).run(rest);
};

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0), // a command may set it (train stopped by Ctrl-C: 130)
  (e) => {
    const err = asPipelineError(e);
    process.stderr.write(`\npseudoword: error [${err.code}]: ${err.message}\n`);
    process.exit(err.code === 'bad_request' ? 2 : 1);
  },
);
