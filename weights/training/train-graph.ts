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
import { pruneDead } from '../onnx/prune-dead.ts';

export const trainInputs = {
  ids: 'input_ids',
  vectors: vectorsInput,
  latents: 'noisy_latents',
  timestep: 'timestep',
  target: 'target',
  weights: 'loss_weights',
} as const;
export const trainOutputs = { loss: 'loss', grad: `${vectorsInput}_grad`, prediction: 'prediction' } as const;

const defaultOpset = (m: Model) => m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;

const pick = (inputs: ValueInfo[], name: string, index: number, what: string): ValueInfo => {
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
  const batchDims = (v: ValueInfo, rest?: (number | string | null)[]): ValueInfo =>
    v.type?.shape
      ? {
          ...v,
          type: {
            ...v.type,
            shape: [
              typeof v.type.shape[0] === 'number' ? v.type.shape[0] : 'batch',
              ...(rest ?? v.type.shape.slice(1)),
            ],
          },
        }
      : v;
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
  const f32 = uOut.type?.elemType === 10 ? b.op('Cast', [prediction], { to: 1 }, { name: 'loss/cast' }) : prediction;
  const latentShape = un.inputs.find((i) => i.name === trainInputs.latents)?.type?.shape ?? null;
  b.input(trainInputs.target, 'float32', latentShape ?? ['batch', 4, 'height', 'width']);
  b.input(trainInputs.weights, 'float32', ['batch']);
  const diff = b.op('Sub', [f32, trainInputs.target], {}, { name: 'loss/diff' });
  const opset = Math.max(defaultOpset(textEncoder), defaultOpset(unet));
  // ReduceMean's axes moved from an attribute to an input in opset 18.
  const sq = b.op('Mul', [diff, diff], {}, { name: 'loss/sq' });
  const perSample =
    opset >= 18
      ? b.op('ReduceMean', [sq, b.constI64([1, 2, 3], [3], 'loss/axes')], { keepdims: 0 }, { name: 'loss/per_sample' })
      : b.op('ReduceMean', [sq], { axes: [1, 2, 3], keepdims: 0 }, { name: 'loss/per_sample' });
  const weighted = b.op('Mul', [perSample, trainInputs.weights], {}, { name: 'loss/weighted' });
  b.op('ReduceMean', [weighted], { keepdims: 0 }, { name: 'loss/mean', outputs: [trainOutputs.loss] });
  b.op('Identity', [prediction], {}, { name: 'prediction', outputs: [trainOutputs.prediction] });
  g.outputs = [
    { name: trainOutputs.loss, type: { elemType: 1, shape: [] }, unknown: [] },
    { name: trainOutputs.prediction, type: uOut.type, unknown: [] },
  ];
  pruneDead(g);
  const others = [...textEncoder.opsetImport, ...unet.opsetImport].filter(
    (o) => o.domain !== '' && o.domain !== 'ai.onnx',
  );
  const composed: Model = {
    ...unet,
    irVersion: Math.max(textEncoder.irVersion, unet.irVersion),
    opsetImport: [
      { domain: '', version: opset },
      ...others.filter((o, i) => others.findIndex((x) => x.domain === o.domain) === i),
    ],
    producerName: 'pseudoword',
    producerVersion: '0.1.0',
    docString: 'textual-inversion training step',
    graph: g,
    metadataProps: [],
  };
  // forwardOnly: the same composition without the backward pass, for measuring what the gradient costs.
  return o.forwardOnly
    ? composed
    : differentiate(composed, {
        ...o.grad,
        of: trainOutputs.loss,
        wrt: [vectorsInput, ...(o.unetWrt ?? []).map((n) => `unet/${n}`)],
      });
};
