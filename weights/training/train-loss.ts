/**
 * The parts of a training-step graph that do not depend on how the conditioning is made: the loss on the UNet's
 * prediction and the model wrapper around the composed graph. Shared by the SD1.x/2.x step (train-graph.ts) and
 * the SDXL step (train-graph-xl.ts), so both train on exactly the same objective:
 *
 *   loss = mean_b( w_b · mean_chw (prediction − target)² )        (w_b: min-SNR or 1, fed as `loss_weights`)
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { DataType, type Dim, type Graph, type Model, type ValueInfo } from '../onnx/proto.ts';
import { pruneDead } from '../onnx/prune-dead.ts';
import { widenHalfInputs } from '../onnx/widen-half-inputs.ts';

/** The loss-scale input of a float16 step graph (see `scaleLoss` and common/train/loss-scale.ts). */
export const lossScaleInput = 'loss_scale';

/** The default-domain opset a model imports. */
export const defaultOpset = (m: Model) =>
  m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;

/**
 * Appends `target`, `weights` (graph inputs) and the loss (written to `loss`) after the prediction, casting a
 * float16 prediction to float32 first. Returns the float32 prediction (what the `prediction` output shows).
 */
const appendLoss = (
  b: GraphBuilder,
  o: {
    prediction: string;
    predictionType: ValueInfo['type'];
    latentShape: Dim[] | null;
    opset: number;
    target: string;
    weights: string;
    loss: string;
  },
): string => {
  const f32 =
    o.predictionType?.elemType === DataType.FLOAT16
      ? b.op('Cast', [o.prediction], { to: 1 }, { name: 'loss/cast' })
      : o.prediction;
  b.input(o.target, 'float32', o.latentShape ?? ['batch', 4, 'height', 'width']);
  b.input(o.weights, 'float32', ['batch']);
  const diff = b.op('Sub', [f32, o.target], {}, { name: 'loss/diff' });
  // ReduceMean's axes moved from an attribute to an input in opset 18.
  const sq = b.op('Mul', [diff, diff], {}, { name: 'loss/sq' });
  const perSample =
    o.opset >= 18
      ? b.op('ReduceMean', [sq, b.constI64([1, 2, 3], [3], 'loss/axes')], { keepdims: 0 }, { name: 'loss/per_sample' })
      : b.op('ReduceMean', [sq], { axes: [1, 2, 3], keepdims: 0 }, { name: 'loss/per_sample' });
  const weighted = b.op('Mul', [perSample, o.weights], {}, { name: 'loss/weighted' });
  b.op('ReduceMean', [weighted], { keepdims: 0 }, { name: 'loss/mean', outputs: [o.loss] });
  return f32;
};

/**
 * The value the backward pass starts from: the loss times a float32 scalar input `loss_scale` when `on` (a float16
 * graph, where small gradients underflow half precision without it; the gradient outputs are then scale × ∂loss/∂v
 * and the `loss` output stays unscaled), else the loss itself. Call it after pruning: the scaled loss is no output.
 */
const scaleLoss = (b: GraphBuilder, loss: string, on: boolean): string =>
  on ? b.op('Mul', [loss, b.input(lossScaleInput, 'float32', [])], {}, { name: 'loss/scaled' }) : loss;

/** The composed graph as a model: the highest default opset of the parts, their other domains, one producer. */
export const composedModel = (parts: readonly Model[], graph: Model['graph'], docString: string): Model => {
  const opset = Math.max(...parts.map(defaultOpset));
  const others = parts.flatMap((m) => m.opsetImport).filter((o) => o.domain !== '' && o.domain !== 'ai.onnx');
  const last = parts[parts.length - 1];
  return {
    ...last,
    irVersion: Math.max(...parts.map((m) => m.irVersion)),
    opsetImport: [
      { domain: '', version: opset },
      ...others.filter((o, i) => others.findIndex((x) => x.domain === o.domain) === i),
    ],
    producerName: 'pseudoword',
    producerVersion: '0.1.0',
    docString,
    graph,
    metadataProps: [],
  };
};

/** The value info with its first dimension named `batch` (unless fixed) and the rest replaced by `rest`. */
export const batchDims = (v: ValueInfo, rest?: Dim[]): ValueInfo =>
  v.type?.shape
    ? {
        ...v,
        type: {
          ...v.type,
          shape: [typeof v.type.shape[0] === 'number' ? v.type.shape[0] : 'batch', ...(rest ?? v.type.shape.slice(1))],
        },
      }
    : v;

/** The step graph's names the loss reads and writes (train-graph.ts `trainInputs` and `trainOutputs`). */
export interface LossNames {
  latents: string;
  target: string;
  weights: string;
  loss: string;
  prediction: string;
}

/**
 * Ends a composed step graph the same way for SD1.x/2.x and SDXL: a float16 export's float inputs widened to
 * float32 at the edge, the loss, the float32 `prediction` output, dead nodes pruned. Returns the value the backward
 * pass starts from (`scaleLoss`; scaled by default when the UNet is float16).
 */
export const finishStepGraph = (
  b: GraphBuilder,
  g: Graph,
  o: {
    prediction: string;
    predictionType: ValueInfo['type'];
    parts: readonly Model[];
    names: LossNames;
    lossScale?: boolean;
  },
): string => {
  const half = o.predictionType?.elemType === DataType.FLOAT16;
  // A float16 export's float inputs (latents, time_ids, a float timestep) are fed in float32 and cast at the input.
  if (half) widenHalfInputs(g);
  const f32 = appendLoss(b, {
    prediction: o.prediction,
    predictionType: o.predictionType,
    latentShape: g.inputs.find((i) => i.name === o.names.latents)?.type?.shape ?? null,
    opset: Math.max(...o.parts.map(defaultOpset)),
    target: o.names.target,
    weights: o.names.weights,
    loss: o.names.loss,
  });
  b.op('Identity', [f32], {}, { name: 'prediction', outputs: [o.names.prediction] });
  g.outputs = [
    { name: o.names.loss, type: { elemType: DataType.FLOAT, shape: [] }, unknown: [] },
    {
      name: o.names.prediction,
      type: o.predictionType && { ...o.predictionType, elemType: DataType.FLOAT },
      unknown: [],
    },
  ];
  pruneDead(g);
  return scaleLoss(b, o.names.loss, o.lossScale ?? half);
};
