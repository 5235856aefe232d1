/**
 * What every layer builder gets: the graph being written, the parameter store, and the opset (which decides how
 * LayerNorm is written). Layers are plain functions `(ctx, name, input, …) → output name`, named after the PyTorch
 * modules they mirror so node and initializer names read like a state_dict.
 *
 * @example
 * const ctx = layerContext(new GraphBuilder(), new ParamStore(b, { seed: 0 }), 17);
 * const y = linear(ctx, 'text_model.final_proj', x, 64, 64);
 */
import type { GraphBuilder } from '../../onnx/builder.ts';
import { PipelineError } from '../../../common/errors.ts';
import type { ParamStore } from '../params.ts';

export interface LayerContext {
  readonly b: GraphBuilder;
  readonly p: ParamStore;
  readonly opset: number;
  /** Shape and axes constants, shared so each distinct one is written once per graph. */
  i64(values: number[]): string;
  f32(value: number): string;
}

/**
 * The opsets the builders write: 14 (LayerNorm decomposed, as torch exports it there) through 17. 18 would need
 * ReduceMean's axes as an input; nothing here asks for it yet.
 */
export const supportedOpsets = [14, 15, 16, 17] as const;

/**
 * A context over a builder and store, at an opset the layers can write.
 *
 * @example
 * const ctx = layerContext(b, new ParamStore(b, { seed: 0 }), 14);
 */
export const layerContext = (b: GraphBuilder, p: ParamStore, opset: number): LayerContext => {
  if (!(supportedOpsets as readonly number[]).includes(opset))
    throw new PipelineError('bad_request', `the tiny-model builders write opset 14 to 17, not ${opset}`);
  const ints = new Map<string, string>();
  const floats = new Map<number, string>();
  return {
    b,
    p,
    opset,
    i64(values) {
      const key = values.join(',');
      if (!ints.has(key)) ints.set(key, b.constI64(values, undefined, 'const_i64'));
      return ints.get(key)!;
    },
    f32(value) {
      if (!floats.has(value)) floats.set(value, b.constF(value, undefined, 'const_f32'));
      return floats.get(value)!;
    },
  };
};
