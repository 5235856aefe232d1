/**
 * Moving weights between built models and a pretraining graph: the initial values of a loss graph's weights
 * (read from the component models, external data included), and a component model with trained values put
 * back in place of its initializers.
 */
import { PipelineError } from '../../common/errors.ts';
import type { Model, TensorProto } from '../../weights/onnx/proto.ts';
import {
  makeExternalTensorProto,
  makeTensorProto,
  readTensorProto,
  type ExternalReader,
} from '../../weights/onnx/tensor-proto.ts';
import { tensor } from '../../common/tensor.ts';
import type { LossGraph } from './vae-loss-graph.ts';

/** A component model with the reader of its external data (if any). */
export interface Component {
  model: Model;
  external?: ExternalReader;
}

/**
 * The initial value of every weight of a loss graph, in the graph's own order.
 *
 * @example
 * new ParamSet(initialWeights(graph, { vae_encoder: { model: enc }, vae_decoder: { model: dec } }));
 */
export const initialWeights = (g: LossGraph, components: Record<string, Component>) =>
  [...g.weights].map(([name, [component, original]]) => {
    const c = components[component];
    const t = c?.model.graph.initializers.find((x) => x.name === original);
    if (!t) throw new PipelineError('internal', `component '${component}' has no initializer '${original}'`);
    const v = readTensorProto(t, c.external);
    return { name, dims: [...v.dims], value: v.data as Float32Array };
  });

/**
 * `model` with each initializer named in `values` replaced by that value — inline, or (when `external` names a
 * file) in a new external-data file whose bytes are returned. Other initializers keep their bytes; an original
 * external one not replaced is an error (its old file would not come along).
 *
 * @example
 * const { model, data } = withWeights(unet, trained, 'model.onnx_data');
 */
export const withWeights = (
  model: Model,
  values: ReadonlyMap<string, Float32Array>,
  external?: string,
  threshold = 1024,
): { model: Model; data?: Uint8Array } => {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializers = model.graph.initializers.map((t): TensorProto => {
    const v = values.get(t.name);
    if (!v) {
      if (t.external) throw new PipelineError('internal', `initializer '${t.name}' is external and has no new value`);
      return t;
    }
    if (external && v.byteLength >= threshold) {
      const bytes = new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
      const proto = makeExternalTensorProto(t.name, 'float32', [...t.dims], external, offset, bytes.length);
      chunks.push(bytes);
      offset += bytes.length;
      return proto;
    }
    return makeTensorProto(t.name, tensor('float32', [...t.dims], Float32Array.from(v)));
  });
  const data = chunks.length ? new Uint8Array(offset) : undefined;
  if (data) chunks.reduce((at, c) => (data.set(c, at), at + c.length), 0);
  return { model: { ...model, graph: { ...model.graph, initializers } }, data };
};

/** Trained values of one component from a loss graph's weights (`prefix/name` → `name`). */
export const componentValues = (
  g: LossGraph,
  component: string,
  value: (name: string) => Float32Array,
): Map<string, Float32Array> =>
  new Map([...g.weights].filter(([, [c]]) => c === component).map(([name, [, original]]) => [original, value(name)]));
