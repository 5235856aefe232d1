import { basename, dirname, resolve } from 'node:path';
import { readFile, writeFileAtomic } from '../../fs.ts';
import { decodeModel, encodeModel } from '../../../weights/onnx/proto.ts';
import { differentiate } from '../../../weights/autodiff/differentiate.ts';
import { PipelineError } from '../../../common/errors.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';
import { coverageReport } from '../../../weights/autodiff/coverage-report.ts';

export const spec: CommandSpec = {
  name: 'grad',
  summary: 'Differentiate an ONNX model: writes one model computing its outputs plus <input>_grad for each --wrt.',
  usage: 'grad <model.onnx> --of <output> --wrt <input>[,<input>…] --out <grad.onnx> | grad --coverage',
  options: {
    of: { type: 'string', arg: 'output', help: 'the scalar output to differentiate (a tensor output: its sum)' },
    wrt: { type: 'string', arg: 'names', help: 'comma-separated graph inputs or initializers' },
    keep: { type: 'string', arg: 'names', help: 'comma-separated intermediate values to expose as outputs too' },
    out: { type: 'string', short: 'o', arg: 'file', help: 'where to write the differentiated model' },
    'no-recompute': { type: 'boolean', help: 'keep forward activations instead of recomputing cheap ones' },
    coverage: {
      type: 'boolean',
      help: "print which ops have gradients: the per-op table on ONNX's node tests, gradient-free ops, refusals",
    },
  },
};

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  if (v.coverage) return void process.stdout.write(coverageReport());
  const input = positionals[0];
  if (!input || !v.of || !v.wrt || !v.out)
    throw new PipelineError(
      'bad_request',
      `grad needs <model.onnx>, --of, --wrt and --out — see 'pseudoword grad --help'`,
    );
  const model = decodeModel(readFile(input));
  const list = (s?: string) =>
    s
      ? s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : [];
  const started = performance.now();
  const graph = differentiate(model, { of: v.of, wrt: list(v.wrt), keep: list(v.keep), recompute: !v['no-recompute'] });
  const out = resolve(v.out);
  // External data is referenced relative to the model file: writing elsewhere would break those references.
  if (graph.graph.initializers.some((t) => t.external) && dirname(out) !== dirname(resolve(input)))
    throw new PipelineError(
      'bad_request',
      `${basename(input)} keeps weights in external data; write --out into the same folder (${dirname(resolve(input))}) so they resolve`,
    );
  writeFileAtomic(out, encodeModel(graph));
  const added = graph.graph.nodes.length - model.graph.nodes.length;
  process.stderr.write(
    `differentiated in ${(performance.now() - started).toFixed(0)} ms: ${model.graph.nodes.length} forward nodes + ${added} backward nodes; outputs ${graph.graph.outputs.map((o) => o.name).join(', ')}\n`,
  );
  process.stdout.write(`${out}\n`);
};
