/**
 * The SDXL textual-inversion training step as one ONNX model (one onnxruntime run per micro-batch, as for SD1.x):
 *
 *   input_ids [B,77],   pseudoword_vectors   [N,w₁] → text_encoder   (vectors injected) → hidden_states.{L₁−1}
 *   input_ids_2 [B,77], pseudoword_vectors_2 [N,w₂] → text_encoder_2 (vectors injected) → hidden_states.{L₂−1},
 *                                                                                         text_embeds [B,p]
 *   context = Concat(penultimate₁, penultimate₂, axis −1) [B,77,w₁+w₂]     (diffusers' encode_prompt)
 *   noisy_latents, timestep, context → UNet encoder_hidden_states; text_embeds → UNet text_embeds;
 *   time_ids [B,6] (per sample: original size, crop top-left, target size) → UNet time_ids → prediction
 *   loss = mean_b( w_b · mean_chw (prediction − target)² )                 (train-loss.ts, as SD1.x)
 *
 * differentiated with our autodiff with respect to both vector inputs. The pooled `text_embeds` depends on the
 * vectors too (text_encoder_2's pooling GatherND picks the EOS row — or, under SDXL's legacy `eos_token_id: 2`,
 * the argmax id, which is a placeholder token whenever the prompt holds one), so its gradient flows through the
 * UNet's added embedding as well as through cross-attention.
 *
 * Inputs: `input_ids`, `input_ids_2`, `pseudoword_vectors`, `pseudoword_vectors_2`, `noisy_latents`, `timestep`,
 * `time_ids`, `target`, `loss_weights`. Outputs: `loss`, `pseudoword_vectors_grad`, `pseudoword_vectors_2_grad`,
 * `prediction`. Initializers are renamed `te/…` (text_encoder), `te2/…` (text_encoder_2) and `unet/…`, keeping
 * their external-data locations (relative to their own component folder; see `xlInitializerFolder`).
 */
import { PipelineError } from '../../common/errors.ts';
import { differentiate } from '../autodiff/differentiate.ts';
import { injectVectors, vectorsInput, type InjectedTextEncoder } from '../embeddings/inject-vectors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { emptyGraph, type Model, type ValueInfo } from '../onnx/proto.ts';
import { renameGraph } from '../onnx/rename-graph.ts';
import { pick, trainInputs, trainOutputs, type TrainGraphOptions } from './train-graph.ts';
import { batchDims, composedModel, finishStepGraph } from './train-loss.ts';

/** The SDXL step's inputs: SD1.x's (same names, so the shared feeders apply) plus encoder 2's and `time_ids`. */
export const trainInputsXl = {
  ...trainInputs,
  ids2: 'input_ids_2',
  vectors2: `${vectorsInput}_2`,
  timeIds: 'time_ids',
} as const;
export const trainOutputsXl = { ...trainOutputs, grad2: `${vectorsInput}_2_grad` } as const;

/** The component folder an initializer of the SDXL step graph came from (for external-data locations). */
export const xlInitializerFolder = (initializer: string): 'text_encoder' | 'text_encoder_2' | 'unet' =>
  initializer.startsWith('te/') ? 'text_encoder' : initializer.startsWith('te2/') ? 'text_encoder_2' : 'unet';

export interface TrainGraphXlOptions extends TrainGraphOptions {
  /**
   * The outputs holding each encoder's penultimate hidden state (SdxlInfo.contextOutputs); by default the
   * `hidden_states.N` output with the second-largest N of each graph.
   */
  contextOutputs?: readonly [string, string];
  /** text_encoder_2's pooled, projected output (SdxlInfo.pooledOutput); default `text_embeds`. */
  pooledOutput?: string;
}

const penultimate = (m: Model, which: string): string => {
  const ks = m.graph.outputs
    .map((o) => /^hidden_states\.(\d+)$/.exec(o.name)?.[1])
    .filter((k) => k !== undefined)
    .map(Number);
  if (ks.length < 2)
    throw new PipelineError(
      'bad_model',
      `${which} has no hidden_states.N outputs (export it with output_hidden_states, as Optimum does for SDXL)`,
    );
  return `hidden_states.${Math.max(...ks) - 1}`;
};

const output = (m: Model, name: string, which: string): ValueInfo => {
  const o = m.graph.outputs.find((x) => x.name === name);
  if (!o)
    throw new PipelineError(
      'bad_model',
      `${which} has no output '${name}'; it has ${m.graph.outputs.map((x) => x.name).join(', ')}`,
    );
  return o;
};

/** An encoder with its vectors injected, unless the caller already did (its graph has `pseudoword_vectors`). */
const injected = (m: Model | InjectedTextEncoder): Model =>
  'graph' in m ? (m.graph.inputs.some((i) => i.name === vectorsInput) ? m : injectVectors(m).model) : m.model;

/**
 * Composes SDXL's two text encoders and UNet with the loss and differentiates with respect to both encoders'
 * vectors. The encoders may be given as exported (their token Gather is rewired here by `injectVectors`) or
 * already injected.
 * @example
 * const step = buildTrainGraphXl(decodeModel(te1), decodeModel(te2), decodeModel(unet), { latent: [4, 8, 8], sequence: 77 });
 * // run: { loss, pseudoword_vectors_grad [N, w₁], pseudoword_vectors_2_grad [N, w₂], prediction }
 */
export const buildTrainGraphXl = (
  textEncoder: Model | InjectedTextEncoder,
  textEncoder2: Model | InjectedTextEncoder,
  unet: Model,
  o: TrainGraphXlOptions = {},
): Model => {
  const [m1, m2] = [injected(textEncoder), injected(textEncoder2)];
  const ids1 = pick(m1.graph.inputs, 'input_ids', 0, 'text_encoder');
  const ids2 = pick(m2.graph.inputs, 'input_ids', 0, 'text_encoder_2');
  const hidden1 = output(m1, o.contextOutputs?.[0] ?? penultimate(m1, 'text_encoder'), 'text_encoder');
  const hidden2 = output(m2, o.contextOutputs?.[1] ?? penultimate(m2, 'text_encoder_2'), 'text_encoder_2');
  const pooled = output(m2, o.pooledOutput ?? 'text_embeds', 'text_encoder_2');
  const uSample = pick(unet.graph.inputs, 'sample', 0, 'the UNet');
  const uTime = pick(unet.graph.inputs, 'timestep', 1, 'the UNet');
  const uHidden = pick(unet.graph.inputs, 'encoder_hidden_states', 2, 'the UNet');
  const uText = unet.graph.inputs.find((i) => i.name === 'text_embeds');
  const uTimeIds = unet.graph.inputs.find((i) => i.name === 'time_ids');
  if (!uText || !uTimeIds)
    throw new PipelineError('bad_model', "the UNet takes no 'text_embeds'/'time_ids'; not an SDXL UNet");
  const uOut = unet.graph.outputs.find((x) => x.name === 'out_sample') ?? unet.graph.outputs[0];

  const te1 = renameGraph(m1.graph, (n) =>
    n === ids1.name ? trainInputsXl.ids : n === vectorsInput ? trainInputsXl.vectors : `te/${n}`,
  );
  const te2 = renameGraph(m2.graph, (n) =>
    n === ids2.name ? trainInputsXl.ids2 : n === vectorsInput ? trainInputsXl.vectors2 : `te2/${n}`,
  );
  const context = 'xl/context';
  const links: Record<string, string> = {
    [uSample.name]: trainInputsXl.latents,
    [uTime.name]: trainInputsXl.timestep,
    [uHidden.name]: context,
    [uText.name]: `te2/${pooled.name}`,
    [uTimeIds.name]: trainInputsXl.timeIds,
  };
  const un = renameGraph(unet.graph, (n) => links[n] ?? `unet/${n}`);
  const prediction = `unet/${uOut.name}`;

  const fix = (v: ValueInfo): ValueInfo => {
    if (v.name === trainInputsXl.ids || v.name === trainInputsXl.ids2)
      return batchDims(v, o.sequence ? [o.sequence] : undefined);
    if (v.name === trainInputsXl.latents) return batchDims(v, o.latent);
    if (v.name === trainInputsXl.timeIds) return batchDims(v);
    if (v.name === trainInputsXl.timestep)
      return v.type?.shape?.length === 1 && v.type.shape[0] !== 1 ? batchDims(v, []) : v;
    return v;
  };
  const g = emptyGraph('pseudoword_train_step_xl');
  g.nodes = [...te1.nodes, ...te2.nodes, ...un.nodes];
  g.initializers = [...te1.initializers, ...te2.initializers, ...un.initializers];
  const fromText = new Set([context, `te2/${pooled.name}`]);
  g.inputs = [...te1.inputs, ...te2.inputs, ...un.inputs.filter((i) => !fromText.has(i.name))].map(fix);
  // The encoders' declared output types, as priors for shape inference where an exporter's ops on the way have no
  // inference rule: the UNet's added-embedding Concat needs the pooled prompt's rank to build its gradient.
  g.valueInfo = [
    { ...hidden1, name: `te/${hidden1.name}` },
    { ...hidden2, name: `te2/${hidden2.name}` },
    { ...pooled, name: `te2/${pooled.name}` },
  ];
  const b = new GraphBuilder(g);
  // The context is built before the UNet's nodes read it: insert the Concat right after both encoders.
  b.op(
    'Concat',
    [`te/${hidden1.name}`, `te2/${hidden2.name}`],
    { axis: -1 },
    { name: 'xl/concat_context', outputs: [context] },
  );
  const concat = g.nodes.pop()!;
  g.nodes.splice(te1.nodes.length + te2.nodes.length, 0, concat);
  const scaled = finishStepGraph(b, g, {
    prediction,
    predictionType: uOut.type,
    parts: [m1, m2, unet],
    names: { ...trainInputsXl, ...trainOutputsXl },
    lossScale: o.lossScale,
  });
  const composed = composedModel([m1, m2, unet], g, 'SDXL textual-inversion training step');
  return o.forwardOnly
    ? composed
    : differentiate(composed, {
        ...o.grad,
        of: scaled,
        wrt: [trainInputsXl.vectors, trainInputsXl.vectors2],
      });
};
