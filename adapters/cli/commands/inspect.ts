import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from '../../fs.ts';
import { modelPath } from '../../open-model.ts';
import { decodeModel, type Model } from '../../../weights/onnx/proto.ts';
import { describeModel, type ModelDescription } from '../../../weights/onnx/describe-model.ts';
import { helpText, parse, type CommandSpec } from '../args.ts';
import { PipelineError } from '../../../common/errors.ts';
import { ruleCoverage } from '../../../weights/autodiff/rule-coverage.ts';
import { nodeTestRowsOf } from '../../../weights/autodiff/coverage-report.ts';
import type { OpRow } from '../../../weights/autodiff/node-test-table.ts';
import { isEmbeddedModel } from '../../../weights/embedded-models.ts';
import { describeSdxlFolder, sdxlSummary } from '../../../weights/sdxl-info.ts';
import { diskModelFiles } from '../../fs.ts';

export const spec: CommandSpec = {
  name: 'inspect',
  summary: 'Describe an ONNX model or a model folder: inputs, outputs, op census, and what cannot run.',
  usage: 'inspect <dir|model.onnx|tiny|tiny-xl> [--json]',
  options: { json: { type: 'boolean', help: 'print JSON instead of text' } },
};

const components = ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder'];

/**
 * The outputs a gradient flows back from: for textual inversion the text encoder's hidden states (not its pooled
 * output) and the UNet's prediction, as train-graph.ts picks them; for any other graph, all its outputs.
 */
const gradientOutputs = (component: string, m: Model): string[] => {
  const names = m.graph.outputs.map((o) => o.name);
  const pick = (preferred: string) => [names.includes(preferred) ? preferred : names[0]];
  if (component === 'text_encoder' || component === 'text_encoder_2') return pick('last_hidden_state');
  if (component === 'unet') return pick('out_sample');
  return names;
};

const fmt = (
  name: string,
  d: ModelDescription & { gradients: ReturnType<typeof ruleCoverage>; gradientsOf: string[]; nodeTests: OpRow[] },
) => {
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
    `  gradients: rules for ${d.gradients.rule.join(' ') || '—'}; gradient-free ${d.gradients.zero.join(' ') || '—'}${d.gradients.missing.length ? `; NO RULE for ${d.gradients.missing.join(' ')} (on the path to ${d.gradientsOf.join(', ')}: differentiating it fails)` : ''}${d.gradients.offPath.length ? `; no rule for ${d.gradients.offPath.join(' ')}, which ${d.gradientsOf.join(', ')} does not depend on (never differentiated)` : ''}`,
    ...(d.nodeTests.length
      ? [
          `  node tests: ${d.nodeTests.map((r) => `${r.op} ${r.pass}/${r.cases}`).join(' · ')} (gradients on ONNX's backend node tests; all ops: pseudoword grad --coverage)`,
        ]
      : []),
  ].join('\n');
};

export const run = async (argv: string[]) => {
  const { values: v, positionals, help } = parse(spec, argv);
  if (help) return void process.stdout.write(helpText(spec));
  const target = positionals[0] ?? 'tiny';
  const path = isEmbeddedModel(target) ? await modelPath(target) : target;
  if (!existsSync(path)) throw new PipelineError('not_found', `no such file or folder '${target}'`);
  const files = statSync(path).isDirectory()
    ? components.filter((c) => existsSync(join(path, c, 'model.onnx'))).map((c) => [c, join(path, c, 'model.onnx')])
    : [[target, path]];
  if (!files.length)
    throw new PipelineError('bad_model', `'${target}' holds no */model.onnx (Optimum layout expected)`);
  const graphs: Record<string, Model['graph']> = {};
  const out = files.map(([name, p]) => {
    const m = decodeModel(readFile(p));
    graphs[name] = m.graph;
    const of = gradientOutputs(name, m);
    const gradients = ruleCoverage(m, of);
    return [
      name,
      { ...describeModel(m), gradients, gradientsOf: of, nodeTests: nodeTestRowsOf(gradients.rule) },
    ] as const;
  });
  const sdxl = graphs.text_encoder_2 ? await describeSdxlFolder(diskModelFiles(path), graphs) : undefined;
  if (v.json)
    process.stdout.write(`${JSON.stringify({ ...Object.fromEntries(out), ...(sdxl ? { sdxl } : {}) }, null, 2)}\n`);
  else
    process.stdout.write(`${[...(sdxl ? [sdxlSummary(sdxl)] : []), ...out.map(([n, d]) => fmt(n, d))].join('\n\n')}\n`);
};
