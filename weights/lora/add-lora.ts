/**
 * LoRA by graph surgery (Hu et al. 2021), on any UNet export and without re-exporting it: each chosen linear
 * layer y = x·W gets a low-rank branch
 *
 *   y' = x·W + (x·Aᵀ)·(Bᵀ·α/r)        A [r, in], B [out, r]  (torch / kohya / PEFT orientation)
 *
 * with A and B as graph inputs (`lora/<path>/A`, `lora/<path>/B`, float32), so a training step feeds them and our
 * autodiff returns ∂loss/∂A and ∂loss/∂B. The scale is folded into Bᵀ, so with B = 0 the branch adds an exact
 * zero and the rewritten UNet computes bit for bit what the original does (for finite activations). A float16
 * export gets the branch weights cast to float16 after the scale.
 */
import { PipelineError } from '../../common/errors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import type { Model, Node } from '../onnx/proto.ts';
import { attentionProjection, type LinearLayer, linearLayers } from './lora-layers.ts';

/** Rank and alpha of an adapter: the branch is scaled by alpha / rank. */
export interface LoraShape {
  rank: number;
  alpha: number;
}

/** Graph input names of a layer's A and B. */
export const loraInputs = (path: string) => ({ a: `lora/${path}/A`, b: `lora/${path}/B` });

/** What `addLora` made: the rewritten model and, in order, the layers that got a branch. */
export interface LoraGraph {
  model: Model;
  layers: LinearLayer[];
  shape: LoraShape;
}

/**
 * Adds a LoRA branch to every layer `pick` accepts (default: the attention projections to_q, to_k, to_v, to_out.0).
 * @throws PipelineError('bad_model') when no layer matches (an export whose node names carry no module paths).
 * @example
 * const { model, layers } = addLora(unet, { rank: 4, alpha: 4 });
 * // feed lora/<path>/A [4, in] and lora/<path>/B [out, 4] for each of `layers`
 */
export const addLora = (
  unet: Model,
  shape: LoraShape,
  pick: (l: LinearLayer) => boolean = (l) => attentionProjection.test(l.path),
): LoraGraph => {
  if (!Number.isInteger(shape.rank) || shape.rank < 1)
    throw new PipelineError('bad_request', `lora rank must be an integer ≥ 1, got ${shape.rank}`);
  const layers = linearLayers(unet).filter(pick);
  if (!layers.length)
    throw new PipelineError(
      'bad_model',
      "the UNet has no attention projections (MatMul/Gemm by an initializer in nodes named '…/to_q/…') to attach a LoRA to",
    );
  // The builder appends to copies; the original model is left as it was.
  const b = new GraphBuilder({
    ...unet.graph,
    nodes: [...unet.graph.nodes],
    initializers: [...unet.graph.initializers],
    inputs: [...unet.graph.inputs],
  });
  const byNode = new Map(layers.map((l) => [l.node, l]));
  const scale = b.constF(shape.alpha / shape.rank, [], 'lora/scale');
  const nodes: Node[] = [];
  for (const n of unet.graph.nodes) {
    const l = byNode.get(n);
    if (!l) {
      nodes.push(n);
      continue;
    }
    const { a, b: bName } = loraInputs(l.path);
    b.input(a, 'float32', [shape.rank, l.inFeatures]);
    b.input(bName, 'float32', [l.outFeatures, shape.rank]);
    const y = n.outputs[0];
    const base = b.fresh(`${y}/lora_base`);
    nodes.push({ ...n, outputs: [base, ...n.outputs.slice(1)] });
    // The branch's nodes are appended to the builder's list; move them here, right after the layer.
    const start = b.graph.nodes.length;
    const p = `lora/${l.path}`;
    let at = b.op('Transpose', [a], { perm: [1, 0] }, { name: `${p}/A_t` });
    let bt = b.op(
      'Mul',
      [b.op('Transpose', [bName], { perm: [1, 0] }, { name: `${p}/B_t` }), scale],
      {},
      { name: `${p}/B_scaled` },
    );
    if (l.elemType === 10) {
      at = b.op('Cast', [at], { to: 10 }, { name: `${p}/A_half` });
      bt = b.op('Cast', [bt], { to: 10 }, { name: `${p}/B_half` });
    }
    const down = b.op('MatMul', [n.inputs[0], at], {}, { name: `${p}/down` });
    const up = b.op('MatMul', [down, bt], {}, { name: `${p}/up` });
    b.op('Add', [base, up], {}, { name: `${p}/add`, outputs: [y] });
    nodes.push(...b.graph.nodes.splice(start));
  }
  const graph = { ...b.graph, nodes };
  return { model: { ...unet, graph }, layers, shape };
};
