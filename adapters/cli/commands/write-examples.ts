import { join, resolve } from 'node:path';
import { writeFiles } from '../../fs.ts';
import { projectRoot } from '../../project-paths.ts';
import { PipelineError } from '../../../common/errors.ts';
import { writeConceptExamples } from '../../../pipeline/world/examples.ts';
import { helpText, num, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'write-examples',
  summary: "Write the held-out concepts' example images (64×64 PNGs) to examples/concepts/<name>/.",
  usage: 'write-examples [--count 5] [--seed 0] [--varied-colours] [--out examples/concepts]',
  options: {
    count: { type: 'string', default: '5', help: 'images per concept' },
    seed: { type: 'string', default: '0', help: 'seed for the scenes' },
    'varied-colours': {
      type: 'boolean',
      help: "each image in another colour (never blue or yellow) instead of the concept's own, captions naming it — for eval --concepts <out>/<name>,…",
    },
    out: {
      type: 'string',
      short: 'o',
      arg: 'folder',
      help: "where to write (default: the project's examples/concepts)",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  // The shipped folder holds the concepts in their own colours (the demo and eval use it); never overwrite it with the
  // experiment's.
  if (v['varied-colours'] && !v.out)
    throw new PipelineError(
      'bad_request',
      '--varied-colours needs --out: the shipped examples/concepts keeps each concept in its own colour',
    );
  const out = v.out ? resolve(v.out) : join(projectRoot, 'examples', 'concepts');
  const files = await writeConceptExamples({
    count: num(v.count, 'count', { int: true, min: 1 }),
    seed: num(v.seed, 'seed', { int: true }),
    varied: !!v['varied-colours'],
  });
  writeFiles(out, files);
  process.stdout.write(
    `${Object.keys(files)
      .map((f) => join(out, f))
      .join('\n')}\n`,
  );
};
