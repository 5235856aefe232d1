import { modelPath } from '../../open-model.ts';
import { diskModelFiles } from '../../fs.ts';
import { loadTokenizer } from '../../../weights/tokenizer/load-tokenizer.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const spec: CommandSpec = {
  name: 'tokenize',
  summary: 'Print the CLIP token ids of a text as JSON (with BOS/EOS, padded to 77 unless --no-pad).',
  usage: 'tokenize --tokenizer <dir|model dir|tiny> "text"',
  options: {
    tokenizer: {
      type: 'string',
      default: 'tiny',
      arg: 'dir',
      help: "a tokenizer folder (vocab.json + merges.txt or tokenizer.json), a model folder, or 'tiny'",
    },
    'no-pad': { type: 'boolean', help: 'do not pad to the model length' },
    pieces: { type: 'boolean', help: 'also print the BPE pieces' },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  let dir = v.tokenizer === 'tiny' ? await modelPath('tiny') : v.tokenizer;
  if (existsSync(join(dir, 'tokenizer'))) dir = join(dir, 'tokenizer');
  const files = diskModelFiles(dir);
  const tok = await loadTokenizer((f) => files.readText(f));
  const text = positionals.join(' ');
  const { ids } = tok.tokenize(text, { pad: !v['no-pad'] });
  process.stdout.write(`${JSON.stringify(v.pieces ? { ids, pieces: tok.pieces(text) } : ids)}\n`);
};
