/**
 * The text encoder + UNet pretraining step as one ONNX model — the latent-diffusion ε-prediction objective
 * (Ho et al. 2020; Rombach et al. 2022) with both networks learning:
 *
 *   input_ids [B,S] → text_encoder → last_hidden_state
 *   noisy_latents [B,C,h,w], timestep [B], last_hidden_state → unet → ε̂
 *   loss = mean (ε̂ − target)²           target = the noise that was added (ε-prediction)
 *
 * differentiated with respect to every weight of both (the token table's gradient is a ScatterND-add). Caption
 * dropout for classifier-free guidance happens in the batch (empty captions), not here.
 */
import { differentiate } from '../../weights/autodiff/differentiate.ts';
import { GraphBuilder } from '../../weights/onnx/builder.ts';
import type { Model } from '../../weights/onnx/proto.ts';
import { mergeParts, modelOf, pruneDead, scalarOut, type Part } from './compose.ts';
import { prefixedWeights, type LossGraph } from './vae-loss-graph.ts';

export const diffusionLossIO = {
  ids: 'input_ids',
  latents: 'noisy_latents',
  timestep: 'timestep',
  target: 'target',
  loss: 'loss',
  prediction: 'prediction',
} as const;

export interface DiffusionLossOptions {
  batch: number;
  sequence: number;
  latent: [number, number, number];
  forwardOnly?: boolean;
}

/**
 * Builds (and differentiates) the diffusion loss graph from a text encoder and a UNet as our builders write them.
 *
 * @example
 * const { model, weights } = buildDiffusionLossGraph(te, unet, { batch: 32, sequence: 77, latent: [4, 8, 8] });
 */
export const buildDiffusionLossGraph = (textEncoder: Model, unet: Model, o: DiffusionLossOptions): LossGraph => {
  const io = diffusionLossIO;
  const parts: Part[] = [
    { model: textEncoder, prefix: 'text_encoder/', wire: { input_ids: io.ids, last_hidden_state: 'hidden' } },
    {
      model: unet,
      prefix: 'unet/',
      wire: { sample: io.latents, timestep: io.timestep, encoder_hidden_states: 'hidden', out_sample: io.prediction },
    },
  ];
  const g = mergeParts(parts, {
    [io.ids]: [o.batch, o.sequence],
    [io.latents]: [o.batch, ...o.latent],
    [io.timestep]: [o.batch],
  });
  const b = new GraphBuilder(g);
  b.input(io.target, 'float32', [o.batch, ...o.latent]);
  const diff = b.op('Sub', [io.prediction, io.target], {}, { name: 'loss/diff' });
  b.op(
    'ReduceMean',
    [b.op('Mul', [diff, diff], {}, { name: 'loss/sq' })],
    { keepdims: 0 },
    { name: 'loss/mean', outputs: [io.loss] },
  );
  g.outputs = [
    scalarOut(io.loss),
    { name: io.prediction, type: { elemType: 1, shape: [o.batch, ...o.latent] }, unknown: [] },
  ];
  pruneDead(g);
  const weights = prefixedWeights(parts);
  const model = modelOf(g, parts);
  return { model: o.forwardOnly ? model : differentiate(model, { of: io.loss, wrt: [...weights.keys()] }), weights };
};
