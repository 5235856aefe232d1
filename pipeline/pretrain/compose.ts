/**
 * Helpers shared by the pretraining loss graphs: which initializers of a built model are its trainable weights,
 * and how to put several component graphs into one (each under a prefix, with chosen inputs rewired) so a whole
 * training step — forward, loss and backward — is one onnxruntime run.
 */
import { emptyGraph, type Graph, type Model, type ValueInfo } from '../../weights/onnx/proto.ts';
import { renameGraph } from '../../weights/onnx/rename-graph.ts';
import type { Dim } from '../../weights/onnx/proto.ts';

/**
 * The trainable weights of a model our builders wrote: float initializers named like a state_dict entry
 * (`….weight`, `….bias`). The rest are constants (GroupNorm's fixed InstanceNorm scale/shift, scalars).
 *
 * @example
 * trainableNames(decodeModel(files['unet/model.onnx'])); // ['conv_in.weight', 'conv_in.bias', …]
 */
export const trainableNames = (m: Model): string[] =>
  m.graph.initializers.filter((t) => t.dataType === 1 && /\.(weight|bias)$/.test(t.name)).map((t) => t.name);

/** One component to merge: its graph, the prefix for its names, and inputs/outputs renamed to shared names. */
export interface Part {
  model: Model;
  prefix: string;
  /** Original value name → name in the merged graph (inputs to feed or wire, outputs to read). */
  wire: Record<string, string>;
}

/**
 * Merges parts into one graph: every value, node and initializer is renamed `prefix + name` except the wired
 * ones. Graph inputs that are wired to another part's output are dropped; the others keep their (renamed) info,
 * with shapes replaced by `shapes[name]` when given (known sizes let the autodiff's shape inference settle
 * broadcasts at build time). `internal` names wired values the caller computes between parts (they are not
 * inputs). Outputs are left for the caller to declare.
 *
 * @example
 * const g = mergeParts([{ model: enc, prefix: 'vae_encoder/', wire: { sample: 'images' } }, …], { images: [16, 3, 64,
 * 64] });
 */
export const mergeParts = (parts: Part[], shapes: Record<string, Dim[]> = {}, internal: string[] = []): Graph => {
  const g = emptyGraph('pseudoword_pretrain_step');
  const renamed = parts.map((p) => renameGraph(p.model.graph, (n) => p.wire[n] ?? `${p.prefix}${n}`));
  const produced = new Set([...internal, ...renamed.flatMap((r) => r.nodes.flatMap((n) => n.outputs))]);
  const inputs = new Map<string, ValueInfo>();
  for (const r of renamed) {
    g.nodes.push(...r.nodes);
    g.initializers.push(...r.initializers);
    for (const i of r.inputs) {
      if (produced.has(i.name) || inputs.has(i.name)) continue;
      const shape = shapes[i.name];
      inputs.set(i.name, shape && i.type ? { ...i, type: { ...i.type, shape } } : i);
    }
  }
  g.inputs = [...inputs.values()];
  return g;
};

/** A model around a merged graph at the parts' highest default-domain opset. */
export const modelOf = (graph: Graph, parts: Part[]): Model => {
  const opset = Math.max(
    ...parts.map((p) => p.model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1),
  );
  return {
    ...parts[0].model,
    irVersion: Math.max(...parts.map((p) => p.model.irVersion)),
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'pseudoword',
    producerVersion: '0.1.0',
    docString: 'pretraining step',
    graph,
    metadataProps: [],
  };
};

export { pruneDead } from '../../weights/onnx/prune-dead.ts';

/** A float32 scalar output's value info. */
export const scalarOut = (name: string): ValueInfo => ({ name, type: { elemType: 1, shape: [] }, unknown: [] });
