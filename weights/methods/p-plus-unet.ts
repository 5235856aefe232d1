/**
 * P+ (extended textual inversion, Voynov et al. 2023) as a graph surgery on any exported UNet: every
 * cross-attention layer — the K and V projections that read `encoder_hidden_states` — gets a conditioning input
 * of its own, so each layer can be given a different prompt encoding. No re-export: the graph's nodes are rewired,
 * its weights untouched.
 *
 *   split:  MatMul(encoder_hidden_states, W_k) → MatMul(encoder_hidden_states_<i>, W_k)     (same i for W_v)
 *   pack:   one input again, holding every layer's conditioning, sliced apart inside the graph:
 *             'sequence' [B, L·S, D] → Reshape [B, L, S, D] → Gather(axis 1, i)   (generation: the prompt
 *                                                                                 encodings side by side)
 *             'batch'    [L·B, S, D] → Reshape [L, B, S, D] → Gather(axis 0, i)   (training: the text encoder
 *                                                                                 batched over layers)
 */
import { PipelineError } from '../../common/errors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import type { Model, Node, ValueInfo } from '../onnx/proto.ts';

const hiddenName = 'encoder_hidden_states';

/** The per-layer input names, in layer order. */
export const layerInput = (i: number) => `${hiddenName}_${i}`;

export interface PerLayerUnet {
  model: Model;
  /** The cross-attention layers' names (from their K projection's node: `…attn2`), in graph order. */
  layers: string[];
  /** Width of the conditioning (D). */
  dim: number;
}

/** `down_blocks.0.….attn2.to_k/MatMul` or `/down_blocks.0/…/attn2/to_k/MatMul` → the part before `to_k`/`to_v`. */
const layerOf = (node: Node): string => {
  const m = /^(.*?)[./]?to_[kv](?:[./].*)?$/.exec(node.name);
  return m?.[1] ? m[1] : node.name || `${node.opType}@${node.outputs[0]}`;
};

/**
 * Gives every cross-attention layer its own conditioning input `encoder_hidden_states_<i>` (K and V of one layer
 * share it). A Cast between the input and the projections (float16 exports) is copied per layer.
 * @throws PipelineError('bad_model') when nothing reads `encoder_hidden_states`.
 */
export const splitCrossAttention = (unet: Model): PerLayerUnet => {
  const g = unet.graph;
  const input = g.inputs.find((i) => i.name === hiddenName) ?? g.inputs[2];
  if (!input) throw new PipelineError('bad_model', `the UNet has no '${hiddenName}' input`);
  // Readers: the nodes reading the input directly, or through one Cast.
  const direct = g.nodes.filter((n) => n.inputs.includes(input.name));
  const readers: { node: Node; via?: Node }[] = direct.flatMap((n) =>
    n.opType === 'Cast'
      ? g.nodes.filter((m) => m.inputs.includes(n.outputs[0])).map((m) => ({ node: m, via: n }))
      : [{ node: n }],
  );
  if (!readers.length) throw new PipelineError('bad_model', `nothing in the UNet reads '${input.name}'`);
  const layers: string[] = [];
  for (const r of readers) if (!layers.includes(layerOf(r.node))) layers.push(layerOf(r.node));
  const nodes = g.nodes.map((n) => ({ ...n, inputs: [...n.inputs] }));
  const byName = new Map(g.nodes.map((n, i) => [n, nodes[i]]));
  const casts: Node[] = [];
  for (const r of readers) {
    const i = layers.indexOf(layerOf(r.node));
    const copy = byName.get(r.node)!;
    if (!r.via) {
      copy.inputs = copy.inputs.map((x) => (x === input.name ? layerInput(i) : x));
      continue;
    }
    const out = `${r.via.outputs[0]}/layer_${i}`;
    if (!casts.some((c) => c.outputs[0] === out))
      casts.push({ ...r.via, name: `${r.via.name}/layer_${i}`, inputs: [layerInput(i)], outputs: [out] });
    copy.inputs = copy.inputs.map((x) => (x === r.via!.outputs[0] ? out : x));
  }
  const rewired = [...casts, ...nodes];
  const stillRead = rewired.some((n) => n.inputs.includes(input.name));
  const perLayer: ValueInfo[] = layers.map((_, i) => ({ ...input, name: layerInput(i) }));
  const inputs = g.inputs.flatMap((v) => (v.name === input.name ? [...(stillRead ? [v] : []), ...perLayer] : [v]));
  const lastDim = input.type?.shape?.at(-1);
  const weight = g.initializers.find((t) => t.name === readers[0].node.inputs[1]);
  const dim = typeof lastDim === 'number' ? lastDim : (weight?.dims[0] ?? 0);
  if (!(dim > 0)) throw new PipelineError('bad_model', `cannot tell the width of the UNet's '${input.name}'`);
  return { model: { ...unet, graph: { ...g, nodes: rewired, inputs } }, layers, dim };
};

/**
 * Feeds every per-layer input from one packed input named `encoder_hidden_states` again (see the top of the file
 * for the two layouts), so callers that know nothing of layers run the split UNet.
 */
export const packLayers = (split: PerLayerUnet, layout: 'sequence' | 'batch', sequence = 77): Model => {
  const g = {
    ...split.model.graph,
    nodes: [...split.model.graph.nodes],
    initializers: [...split.model.graph.initializers],
  };
  const L = split.layers.length;
  const first = g.inputs.find((i) => i.name === layerInput(0))!;
  const per = new Set(split.layers.map((_, i) => layerInput(i)));
  g.inputs = g.inputs.filter((i) => !per.has(i.name));
  const b = new GraphBuilder(g);
  const D = split.dim;
  const packedShape =
    layout === 'sequence'
      ? [first.type?.shape?.[0] ?? 'batch', 'layers_x_sequence', D]
      : ['layers_x_batch', first.type?.shape?.[1] ?? 'sequence', D];
  b.input(hiddenName, first.type?.elemType === 10 ? 'float16' : 'float32', packedShape);
  // Reshape's 0 copies the input's dim at that index: [B, L·S, D] → [B, L, S, D]; [L·B, S, D] → [L, B, S, D].
  const shape = layout === 'sequence' ? [0, L, -1, D] : [L, -1, sequence, D];
  const blocks = b.op('Reshape', [hiddenName, b.constI64(shape, [4], 'p_plus/shape')], {}, { name: 'p_plus/unpack' });
  for (let i = 0; i < L; i++)
    b.op(
      'Gather',
      [blocks, b.constI64(i, [], 'p_plus/layer')],
      { axis: layout === 'sequence' ? 1 : 0 },
      {
        name: `p_plus/layer_${i}`,
        outputs: [layerInput(i)],
      },
    );
  // The unpacking nodes must come first: the graph stays topologically sorted.
  const added = g.nodes.splice(split.model.graph.nodes.length);
  g.nodes.unshift(...added);
  return { ...split.model, graph: g };
};
