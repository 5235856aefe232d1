/**
 * The common shell of every model builder here: a fresh graph, a parameter store, a layer context; the caller
 * writes the graph; the result is the encoded model, its external data (if any) and its parameter count.
 */
import { GraphBuilder } from '../onnx/builder.ts';
import { emptyGraph, encodeModel } from '../onnx/proto.ts';
import { ParamStore, type ExternalData } from './params.ts';
import { layerContext, type LayerContext } from './layers/context.ts';

export interface BuildOptions {
  /** Seed of every weight (default 0). */
  seed?: number;
  /** Default-domain opset, 14–17 (default 17). */
  opset?: number;
  /** External-data file name next to model.onnx, or false to keep every weight inline. */
  externalData?: string | false;
}

/** A built model: the .onnx bytes, its external data (generated on demand) and its parameter count. */
export interface BuiltModel {
  model: Uint8Array;
  external?: ExternalData;
  parameters: number;
}

/**
 * Builds one model: `write` declares inputs, layers and outputs through `ctx`. `defaultExternal` is the data
 * file used when the options do not say (the UNet's `model.onnx_data`; none for the small models).
 *
 * @example
 * const m = buildModel('unet', { seed: 0 }, 'model.onnx_data', (ctx) => { ... });
 */
export const buildModel = (
  graphName: string,
  o: BuildOptions,
  defaultExternal: string | undefined,
  write: (ctx: LayerContext) => void,
): BuiltModel => {
  const opset = o.opset ?? 17;
  const b = new GraphBuilder(emptyGraph(graphName));
  const location = o.externalData === undefined ? defaultExternal : o.externalData || undefined;
  const p = new ParamStore(b, { seed: o.seed ?? 0, externalLocation: location });
  write(layerContext(b, p, opset));
  return { model: encodeModel(b.toModel(opset)), external: p.external(), parameters: p.count };
};
