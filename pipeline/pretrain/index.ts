/**
 * Pretraining the project's own `tiny` model on the procedural world with the project's autodiff: loss graphs
 * (VAE; text encoder + UNet), the optimizer over all weights, the two phases, and the trained folder.
 *
 * @example
 * import { defaultRecipe, pretrain } from './pipeline/pretrain/index.ts';
 * for await (const e of pretrain({ recipe: defaultRecipe, open })) if (e.type === 'step') console.log(e.phase, e.step,
 * e.loss);
 */
export { pretrain, untrainedFolder, type PretrainEvent, type PretrainOptions } from './pretrain.ts';
export {
  defaultRecipe,
  scaleRecipe,
  shippedTextConfig,
  shippedUnetConfig,
  shippedVaeConfig,
  type PretrainRecipe,
  type PhaseRecipe,
} from './pretrain-config.ts';
export {
  buildVaeLossGraph,
  vaeLossIO,
  prefixedWeights,
  type LossGraph,
  type VaeLossOptions,
} from './vae-loss-graph.ts';
export { buildDiffusionLossGraph, diffusionLossIO, type DiffusionLossOptions } from './diffusion-loss-graph.ts';
export { ParamSet, defaultAdamW, type AdamWOptions } from './param-set.ts';
export { trainLoop, type StepEvent, type CheckpointEvent, type Phase } from './train-loop.ts';
export { fitPreview, type PreviewFit } from './fit-preview.ts';
export { trainedFolder, type TrainedWeights } from './trained-folder.ts';
