/**
 * The textual-inversion training step as one ONNX model, so a step is one onnxruntime run (no host round trip
 * between text encoder, UNet and loss — onnxruntime-node has no IO binding):
 *
 *   input_ids [B,77], pseudoword_vectors [N,D] → text encoder (vectors injected) → hidden [B,77,D]
 *   noisy_latents [B,C,h,w], timestep, hidden → UNet → prediction [B,C,h,w]
 *   loss = mean_b( w_b · mean_chw (prediction − target)² )        (w_b: min-SNR or 1)
 *
 * then differentiated with our autodiff with respect to `pseudoword_vectors` only. Outputs: `loss`,
 * `pseudoword_vectors_grad` and the prediction (for x̂₀ previews).
 */
import { PipelineError } from '../../common/errors.ts';
import { differentiate } from '../autodiff/differentiate.ts';
import type { GradOptions } from '../autodiff/grad-emitter.ts';
import { vectorsInput } from '../embeddings/inject-vectors.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { emptyGraph, type Model, type ValueInfo } from '../onnx/proto.ts';
import { renameGraph } from '../onnx/rename-graph.ts';
import { batchDims, composedModel, finishStepGraph } from './train-loss.ts';

export const trainInputs = {
  ids: 'input_ids',
  vectors: vectorsInput,
  latents: 'noisy_latents',
  timestep: 'timestep',
  target: 'target',
  weights: 'loss_weights',
} as const;
export const trainOutputs = { loss: 'loss', grad: `${vectorsInput}_grad`, prediction: 'prediction' } as const;

export const pick = (inputs: ValueInfo[], name: string, index: number, what: string): ValueInfo => {
  const v = inputs.find((i) => i.name === name) ?? inputs[index];
  if (!v) throw new PipelineError('bad_model', `${what} has no input '${name}'`);
  return v;
};

/**
 * Composes an injected text encoder (see `injectVectors`) and a UNet with the MSE loss, and differentiates.
 * Initializers keep their bytes; external ones keep their locations (the caller relocates them if the model is
 * written somewhere else).
 */
export interface TrainGraphOptions {
  /** Build the composition without the backward pass (to measure what the gradient costs). */
  forwardOnly?: boolean;
  /**
   * Latent [channels, height, width] and token length to bake into the inputs. Known sizes let shape inference
   * settle every broadcast while building the backward graph, instead of emitting run-time un-broadcast checks.
   */
  latent?: [number, number, number];
  sequence?: number;
  /** Autodiff choices (conv input-gradient form, recomputation). */
  grad?: GradOptions;
  /**
   * Add a float32 scalar input `loss_scale` that multiplies the loss before differentiation (the gradient output
   * is then scale × ∂loss/∂vectors; the `loss` output stays unscaled). Default: when the UNet is float16, where
   * small gradients underflow half precision without it.
   */
  lossScale?: boolean;
  /**
   * UNet inputs to differentiate with respect to as well, named as in the UNet (pivotal tuning's LoRA weights);
   * their gradients come out as `unet/<name>_grad`.
   */
  unetWrt?: readonly string[];
}

export const buildTrainGraph = (textEncoder: Model, unet: Model, o: TrainGraphOptions = {}): Model => {
  const teIds = pick(textEncoder.graph.inputs, 'input_ids', 0, 'the text encoder');
  const teOut = textEncoder.graph.outputs.find((o) => o.name === 'last_hidden_state') ?? textEncoder.graph.outputs[0];
  const uSample = pick(unet.graph.inputs, 'sample', 0, 'the UNet');
  const uTime = pick(unet.graph.inputs, 'timestep', 1, 'the UNet');
  const uHidden = pick(unet.graph.inputs, 'encoder_hidden_states', 2, 'the UNet');
  const uOut = unet.graph.outputs.find((o) => o.name === 'out_sample') ?? unet.graph.outputs[0];

  const te = renameGraph(textEncoder.graph, (n) =>
    n === teIds.name ? trainInputs.ids : n === vectorsInput ? vectorsInput : `te/${n}`,
  );
  const hidden = `te/${teOut.name}`;
  const un = renameGraph(unet.graph, (n) =>
    n === uSample.name
      ? trainInputs.latents
      : n === uTime.name
        ? trainInputs.timestep
        : n === uHidden.name
          ? hidden
          : `unet/${n}`,
  );
  const prediction = `unet/${uOut.name}`;

  // One batch symbol for every batch-sized input (exporters name it differently per model: batch, steps, …).
  const fix = (v: ValueInfo): ValueInfo => {
    if (v.name === trainInputs.ids) return batchDims(v, o.sequence ? [o.sequence] : undefined);
    if (v.name === trainInputs.latents) return batchDims(v, o.latent);
    if (v.name === trainInputs.timestep)
      return v.type?.shape?.length === 1 && v.type.shape[0] !== 1 ? batchDims(v, []) : v;
    return v;
  };
  te.inputs = te.inputs.map(fix);
  un.inputs = un.inputs.map(fix);
  const g = emptyGraph('pseudoword_train_step');
  g.nodes = [...te.nodes, ...un.nodes];
  g.initializers = [...te.initializers, ...un.initializers];
  g.inputs = [...te.inputs, ...un.inputs.filter((i) => i.name !== hidden)];
  const b = new GraphBuilder(g);
  const scaled = finishStepGraph(b, g, {
    prediction,
    predictionType: uOut.type,
    parts: [textEncoder, unet],
    names: { ...trainInputs, ...trainOutputs },
    lossScale: o.lossScale,
  });
  const composed = composedModel([textEncoder, unet], g, 'textual-inversion training step');
  // forwardOnly: the same composition without the backward pass, for measuring what the gradient costs.
  return o.forwardOnly
    ? composed
    : differentiate(composed, {
        ...o.grad,
        of: scaled,
        wrt: [vectorsInput, ...(o.unetWrt ?? []).map((n) => `unet/${n}`)],
      });
};
