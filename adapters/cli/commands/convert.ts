import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PipelineError } from '../../../common/errors.ts';
import { float16Folder } from '../../../weights/float16-folder.ts';
import { diskModelFiles, writeFiles } from '../../fs.ts';
import { modelPath } from '../../open-model.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';

export const spec: CommandSpec = {
  name: 'convert',
  summary:
    'Convert a model folder (Optimum layout) to float16: weights, float inputs and outputs in half precision, as an Optimum --dtype fp16 export has them.',
  usage: 'convert <dir|tiny|tiny-xl> --dtype fp16 --out <dir>',
  options: {
    dtype: { type: 'string', arg: 'fp16', default: 'fp16', help: 'the precision to convert to (only fp16)' },
    out: { type: 'string', short: 'o', arg: 'dir', help: 'the new folder (must not exist, or be empty)' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const source = positionals[0];
  if (!source || !v.out)
    throw new PipelineError('bad_request', `convert needs <dir> and --out — see 'pseudoword convert --help'`);
  if (v.dtype !== 'fp16' && v.dtype !== 'float16')
    throw new PipelineError('bad_request', `--dtype must be fp16 (got '${v.dtype}')`, { option: 'dtype' });
  const out = resolve(v.out);
  if (existsSync(out) && readdirSync(out).length)
    throw new PipelineError('bad_request', `--out '${v.out}' exists and is not empty; choose a new folder`);
  const files = await float16Folder(diskModelFiles(await modelPath(source)));
  writeFiles(out, files);
  process.stdout.write(`wrote the float16 folder ${out} (${Object.keys(files).length} files)\n`);
};
