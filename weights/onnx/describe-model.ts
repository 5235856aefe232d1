/**
 * A readable summary of an ONNX model without loading its weights: inputs and outputs with dtypes and dims,
 * opset, parameter count, op census and the ops onnxruntime's CPU build cannot run.
 */
import type { Model, ValueInfo } from './proto.ts';
import { opCensus, type OpCount } from './op-census.ts';
import { sizeOf } from '../../common/tensor.ts';

const elemNames: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

export interface ModelDescription {
  opsets: Record<string, number>;
  producer: string;
  inputs: { name: string; dtype: string; dims: (number | string | null)[] | null }[];
  outputs: { name: string; dtype: string; dims: (number | string | null)[] | null }[];
  parameters: number;
  externalData: boolean;
  nodes: number;
  ops: OpCount[];
  cannotRunOnCpu: OpCount[];
}

const io = (v: ValueInfo) => ({
  name: v.name,
  dtype: elemNames[v.type?.elemType ?? 0] ?? `type ${v.type?.elemType}`,
  dims: v.type?.shape ?? null,
});

export const describeModel = (m: Model): ModelDescription => {
  const inits = new Set(m.graph.initializers.map((t) => t.name));
  const ops = opCensus(m);
  return {
    opsets: Object.fromEntries(m.opsetImport.map((o) => [o.domain || 'ai.onnx', o.version])),
    producer: `${m.producerName} ${m.producerVersion}`.trim(),
    inputs: m.graph.inputs.filter((v) => !inits.has(v.name)).map(io),
    outputs: m.graph.outputs.map(io),
    parameters: m.graph.initializers.reduce((a, t) => a + sizeOf(t.dims), 0),
    externalData: m.graph.initializers.some((t) => t.external),
    nodes: m.graph.nodes.length,
    ops,
    cannotRunOnCpu: ops.filter((o) => !o.cpu),
  };
};
