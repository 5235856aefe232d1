/**
 * Merges LoRA weights into a UNet's initializers, for generation at full speed (no branch left in the graph):
 *
 *   W' = W + s·(alpha/r)·B·A          (B·A is [out, in]; transposed into W when W is stored [in, out])
 *
 * where s is the user's scale (`generate --lora file:s`). Only the weights a LoRA touches are rewritten (read from
 * external data if they live there, written back inline in the weight's own dtype); every other initializer keeps
 * its bytes and location. Several LoRAs add up.
 */
import { PipelineError } from '../../common/errors.ts';
import { floatArray, halfArray } from '../../common/numerics/half.ts';
import { tensor } from '../../common/tensor.ts';
import type { Model } from '../onnx/proto.ts';
import { type ExternalReader, makeTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';
import type { LoadedLoraLayer } from './lora-file.ts';
import { linearLayers } from './lora-layers.ts';

/** One LoRA to merge and the user's scale for it. */
export interface ScaledLora {
  layers: LoadedLoraLayer[];
  scale: number;
}

/**
 * The UNet with every LoRA merged into its weights. `read` reads the UNet's external data.
 * @example
 * const merged = mergeLora(unet, [{ layers: readLora(bytes, linearLayers(unet)).layers, scale: 0.8 }], read);
 */
export const mergeLora = (unet: Model, loras: readonly ScaledLora[], read?: ExternalReader): Model => {
  const byPath = new Map(linearLayers(unet).map((l) => [l.path, l]));
  const deltas = new Map<string, Float32Array>(); // weight name → its values, updated
  for (const { layers, scale } of loras)
    for (const x of layers) {
      const l = byPath.get(x.path);
      if (!l) throw new PipelineError('bad_embedding', `LoRA layer '${x.path}' is not a linear layer of this UNet`);
      let w = deltas.get(l.weight);
      if (!w) {
        const t = readTensorProto(unet.graph.initializers.find((i) => i.name === l.weight)!, read);
        w = t.dtype === 'float16' ? floatArray(t.data as Uint16Array) : Float32Array.from(t.data as Float32Array);
        deltas.set(l.weight, w);
      }
      const { inFeatures: n, outFeatures: m } = l;
      const r = x.rank;
      const s = scale * x.scale;
      for (let o = 0; o < m; o++)
        for (let i = 0; i < n; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += x.b[o * r + k] * x.a[k * n + i];
          if (l.stored === 'in-out') w[i * m + o] += s * d;
          else w[o * n + i] += s * d;
        }
    }
  const initializers = unet.graph.initializers.map((t) => {
    const w = deltas.get(t.name);
    if (!w) return t;
    return makeTensorProto(
      t.name,
      t.dataType === 10 ? tensor('float16', t.dims, halfArray(w)) : tensor('float32', t.dims, w),
    );
  });
  return { ...unet, graph: { ...unet.graph, initializers } };
};
