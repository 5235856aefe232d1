/**
 * The trained model folder: the untrained build's files (tokenizer, scheduler, configs) with the four
 * components' weights replaced by the trained ones, the VAE's scaling factor set, and pseudoword.json
 * describing the fitted preview factors and how the weights were made.
 */
import { jsonBytes } from '../../weights/tiny/folder-json.ts';
import { decodeModel, encodeModel } from '../../weights/onnx/proto.ts';
import { withWeights } from './model-weights.ts';
import type { PreviewFit } from './fit-preview.ts';
import type { PretrainRecipe } from './pretrain-config.ts';

export interface TrainedWeights {
  /** Per component (text_encoder, unet, vae_encoder, vae_decoder): initializer name → trained value. */
  components: Record<string, ReadonlyMap<string, Float32Array>>;
  scalingFactor: number;
  preview: PreviewFit;
  recipe: PretrainRecipe;
  /** Final losses, for the record. */
  losses: Record<string, number>;
}

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

/**
 * Files of the trained folder (relative path → bytes), ready to write.
 *
 * @example
 * writeFiles(dir, trainedFolder(buildTinyModel(opts), trained));
 */
export const trainedFolder = (base: Record<string, Uint8Array>, t: TrainedWeights): Record<string, Uint8Array> => {
  const files = { ...base };
  for (const [component, values] of Object.entries(t.components)) {
    // The UNet keeps Optimum's layout (weights in model.onnx_data); the small components stay inline.
    const external = component === 'unet' ? 'model.onnx_data' : undefined;
    const { model, data } = withWeights(decodeModel(base[`${component}/model.onnx`]), values, external);
    files[`${component}/model.onnx`] = encodeModel(model);
    if (data) files[`${component}/model.onnx_data`] = data;
  }
  for (const c of ['vae_encoder', 'vae_decoder'])
    files[`${c}/config.json`] = jsonBytes({ ...json(base[`${c}/config.json`]), scaling_factor: t.scalingFactor });
  const info = json(base['pseudoword.json']);
  files['pseudoword.json'] = jsonBytes({
    ...info,
    scalingFactor: t.scalingFactor,
    previewFactors: t.preview.factors,
    previewBias: t.preview.bias,
    previewFactorsFitted: true,
    previewFitR2: t.preview.r2,
    trained: { by: 'pseudoword pretrain', world: 'pipeline/world', recipe: t.recipe, finalLosses: t.losses },
  });
  return files;
};
