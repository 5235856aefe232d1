/**
 * The linear layers of a UNet export that a LoRA can attach to, found from the graph alone: a MatMul whose second
 * input is a 2-D initializer, or a Gemm whose weight is one. Each is named by its module path, read from the
 * node's name the way exporters write it — torch.onnx `/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`,
 * pseudoword `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q/MatMul` — both give
 * `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`, the diffusers module path that the kohya and
 * diffusers LoRA key layouts are built from.
 */
import { attr } from '../onnx/builder.ts';
import type { Model, Node } from '../onnx/proto.ts';

/** One linear layer: y = x·W (+ b), W an initializer. */
export interface LinearLayer {
  /** The diffusers module path, e.g. `mid_block.attentions.0.transformer_blocks.0.attn2.to_k`. */
  path: string;
  node: Node;
  /** The weight initializer's name. */
  weight: string;
  inFeatures: number;
  outFeatures: number;
  /** How W is stored: [in, out] (MatMul, Gemm without transB) or [out, in] (Gemm with transB = 1, torch's own). */
  stored: 'in-out' | 'out-in';
  /** The weight's ONNX element type (1 float32, 10 float16). */
  elemType: number;
}

/** The module path from a node's name: the name without its last `/` part, slashes turned into dots. */
export const modulePath = (nodeName: string): string => {
  const parts = nodeName.replace(/^\/+/, '').split('/');
  return parts.slice(0, -1).join('.');
};

/** The attention projections pivotal tuning trains, as kohya's and PEFT's default SD targets. */
export const attentionProjection = /(^|\.)(to_q|to_k|to_v|to_out(\.0)?)$/;

/** Every linear layer whose weight is a float initializer, in graph order. Unnamed or duplicated paths are skipped. */
export const linearLayers = (unet: Model): LinearLayer[] => {
  const inits = new Map(unet.graph.initializers.map((t) => [t.name, t]));
  const out: LinearLayer[] = [];
  const seen = new Set<string>();
  for (const n of unet.graph.nodes) {
    if ((n.domain !== '' && n.domain !== 'ai.onnx') || (n.opType !== 'MatMul' && n.opType !== 'Gemm')) continue;
    const w = inits.get(n.inputs[1]);
    if (w?.dims.length !== 2 || (w.dataType !== 1 && w.dataType !== 10)) continue;
    if (n.opType === 'Gemm' && attr(n, 'transA', 0) !== 0) continue;
    const path = modulePath(n.name);
    if (!path || seen.has(path)) continue;
    seen.add(path);
    const stored = n.opType === 'Gemm' && attr<number>(n, 'transB', 0) === 1 ? 'out-in' : 'in-out';
    const [d0, d1] = w.dims;
    out.push({
      path,
      node: n,
      weight: w.name,
      inFeatures: stored === 'in-out' ? d0 : d1,
      outFeatures: stored === 'in-out' ? d1 : d0,
      stored,
      elemType: w.dataType,
    });
  }
  return out;
};

/** kohya / A1111 key stem: `lora_unet_` + the module path with dots as underscores. */
export const kohyaStem = (path: string) => `lora_unet_${path.replace(/\./g, '_')}`;
/** diffusers (PEFT) key stem: `unet.` + the module path. */
export const diffusersStem = (path: string) => `unet.${path}`;
