import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from '../../fs.ts';
import { modelPath } from '../../open-model.ts';
import { decodeModel } from '../../../weights/onnx/proto.ts';
import { describeModel, type ModelDescription } from '../../../weights/onnx/describe-model.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';
import { PipelineError } from '../../../common/errors.ts';
import { ruleCoverage } from '../../../weights/autodiff/rule-coverage.ts';

export const spec: CommandSpec = {
  name: 'inspect',
  summary: 'Describe an ONNX model or a model folder: inputs, outputs, op census, and what cannot run.',
  usage: 'inspect <dir|model.onnx|tiny> [--json]',
  options: { json: { type: 'boolean', help: 'print JSON instead of text' } },
};

const components = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder'];

const fmt = (name: string, d: ModelDescription & { gradients: ReturnType<typeof ruleCoverage> }) => {
  const dims = (x: ModelDescription['inputs'][number]) =>
    `${x.name}: ${x.dtype}[${(x.dims ?? ['?']).map((v) => v ?? '?').join(', ')}]`;
  return [
    `${name}  (opsets ${Object.entries(d.opsets)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}; ${d.nodes} nodes; ${(d.parameters / 1e6).toFixed(2)} M parameters${d.externalData ? ', external data' : ''})`,
    `  inputs:  ${d.inputs.map(dims).join('; ')}`,
    `  outputs: ${d.outputs.map(dims).join('; ')}`,
    `  ops:     ${d.ops.map((o) => `${o.domain === 'ai.onnx' ? '' : `${o.domain}.`}${o.opType}×${o.count}`).join(' ')}`,
    d.cannotRunOnCpu.length
      ? `  CANNOT RUN on CPU: ${d.cannotRunOnCpu.map((o) => `${o.domain}.${o.opType} (node '${o.firstNode}')`).join(', ')}`
      : '  runs on CPU: yes',
    `  gradients: rules for ${d.gradients.rule.join(' ') || '—'}; gradient-free ${d.gradients.zero.join(' ') || '—'}${d.gradients.missing.length ? `; NO RULE for ${d.gradients.missing.join(' ')} (training fails if one lies on the path to the loss)` : ''}`,
  ].join('\n');
};

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const target = positionals[0] ?? 'tiny';
  const path = target === 'tiny' ? await modelPath('tiny') : target;
  if (!existsSync(path)) throw new PipelineError('not_found', `no such file or folder '${target}'`);
  const files = statSync(path).isDirectory()
    ? components.filter((c) => existsSync(join(path, c, 'model.onnx'))).map((c) => [c, join(path, c, 'model.onnx')])
    : [[target, path]];
  if (!files.length)
    throw new PipelineError('bad_model', `'${target}' holds no */model.onnx (Optimum layout expected)`);
  const out = files.map(([name, p]) => {
    const m = decodeModel(readFile(p));
    return [name, { ...describeModel(m), gradients: ruleCoverage(m) }] as const;
  });
  if (v.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(out), null, 2)}\n`);
  else process.stdout.write(`${out.map(([n, d]) => fmt(n, d)).join('\n\n')}\n`);
};
