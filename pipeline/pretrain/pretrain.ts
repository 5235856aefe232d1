/**
 * Pretraining the `tiny` model on the procedural world, end to end: build the untrained folder (tokenizer over
 * the world's words), train the VAE, then its decoder alone, encode the dataset's latents, train text encoder +
 * UNet, fit the preview factors, and hand back the trained folder's files. An async generator of events, so the caller
 * streams
 * losses, keeps checkpoints and can stop between steps; everything is decided by the recipe's seed.
 */
import { PipelineError } from '../../common/errors.ts';
import { worldVocabulary } from '../world/index.ts';
import { decodeModel, type Model } from '../../weights/onnx/proto.ts';
import type { Session } from '../../weights/session.ts';
import { buildTinyModel } from '../../weights/tiny/build-tiny-model.ts';
import { vaeScale } from '../../weights/tiny/vae.ts';
import { loadTokenizer } from '../../weights/tokenizer/load-tokenizer.ts';
import { encodeLatents, prepareDiffusion } from './diffusion-phase.ts';
import { fitPreview } from './fit-preview.ts';
import { componentValues, withWeights } from './model-weights.ts';
import { shippedTextConfig, shippedUnetConfig, shippedVaeConfig, type PretrainRecipe } from './pretrain-config.ts';
import { trainedFolder } from './trained-folder.ts';
import type { CheckpointEvent, StepEvent } from './train-loop.ts';
import { prepareVae } from './vae-phase.ts';
import { tokenizeCaptions, worldItems } from './world-data.ts';

export type PretrainEvent =
  | StepEvent
  | CheckpointEvent
  | { type: 'info'; message: string }
  | { type: 'model'; files: Record<string, Uint8Array> };

export interface PretrainOptions {
  recipe: PretrainRecipe;
  open(model: Model): Promise<Session>;
  /** Checkpoint blobs to resume from, per phase. */
  resume?: { vae?: Uint8Array; decoder?: Uint8Array; diffusion?: Uint8Array };
  checkpointEvery?: number;
}

/**
 * The untrained folder the trained one starts from (and keeps the tokenizer, scheduler and configs of).
 *
 * @example
 * const base = untrainedFolder(0);
 */
export const untrainedFolder = (seed: number): Record<string, Uint8Array> =>
  buildTinyModel({
    seed,
    words: worldVocabulary,
    unet: shippedUnetConfig,
    vae: shippedVaeConfig,
    text: shippedTextConfig,
  });

const RES = 64;
const SCALE = vaeScale(shippedVaeConfig);
const LATENT = RES / SCALE;

/**
 * Runs both phases and yields their events, then `{ type: 'model', files }` with the trained folder.
 *
 * @example
 * for await (const e of pretrain({ recipe: defaultRecipe, open })) if (e.type === 'model') writeFiles(dir, e.files);
 */
export async function* pretrain(o: PretrainOptions): AsyncGenerator<PretrainEvent> {
  const { recipe } = o;
  const base = untrainedFolder(recipe.seed);
  const model = (c: string) => decodeModel(base[`${c}/model.onnx`]);
  const unetData = base['unet/model.onnx_data'];
  const tokenizer = await loadTokenizer(async (f) =>
    base[`tokenizer/${f}`] ? new TextDecoder().decode(base[`tokenizer/${f}`]) : undefined,
  );
  const unknown = worldVocabulary.filter((w) => tokenizer.encode(w).length !== 1);
  if (unknown.length)
    yield { type: 'info', message: `world words that take more than one token: ${unknown.join(', ')}` };

  const vae = await prepareVae(model('vae_encoder'), model('vae_decoder'), {
    recipe,
    open: o.open,
    resume: o.resume?.vae,
    checkpointEvery: o.checkpointEvery,
    resolution: RES,
    scale: SCALE,
  });
  yield {
    type: 'info',
    message: `vae: ${vae.params.size} weights, ${vae.graph.model.graph.nodes.length} nodes in the step graph`,
  };
  for await (const e of vae.events) yield e;
  await vae.session.release();
  const vaeValues = (c: string) => componentValues(vae.graph, c, (n) => vae.params.value(n));
  const trainedEncoder = withWeights(model('vae_encoder'), vaeValues('vae_encoder')).model;

  // Phase 3 (run before diffusion: it depends on the VAE alone, and the encoder it keeps frozen makes the latents).
  const dec = await prepareVae(
    trainedEncoder,
    withWeights(model('vae_decoder'), vaeValues('vae_decoder')).model,
    {
      recipe,
      open: o.open,
      resume: o.resume?.decoder,
      checkpointEvery: o.checkpointEvery,
      resolution: RES,
      scale: SCALE,
    },
    true,
  );
  for await (const e of dec.events) yield e;
  await dec.session.release();
  const decoderValues = componentValues(dec.graph, 'vae_decoder', (n) => dec.params.value(n));

  yield { type: 'info', message: `encoding ${recipe.datasetSize} world scenes` };
  const encoder = await o.open(trainedEncoder);
  const captions: string[] = [];
  const pixelsAt = (from: number, n: number) => {
    const items = worldItems(recipe.seed, from, n, RES);
    captions.push(...items.captions);
    return items.pixels;
  };
  const { latents, scalingFactor } = await encodeLatents(encoder, recipe.datasetSize, pixelsAt, RES, 64, SCALE);
  await encoder.release();
  if (!Number.isFinite(scalingFactor))
    throw new PipelineError('numeric', `the latents' scaling factor is ${scalingFactor}`);
  const fitCount = Math.min(512, recipe.datasetSize);
  const preview = fitPreview(latents, worldItems(recipe.seed, 0, fitCount, RES).pixels, fitCount, 4, LATENT, SCALE);
  yield {
    type: 'info',
    message: `latents: scaling factor ${scalingFactor.toFixed(4)}; preview fit R² ${preview.r2.toFixed(3)}`,
  };
  const length = tokenizer.modelMaxLength;
  const data = {
    latents,
    ids: tokenizeCaptions(tokenizer, captions, length),
    count: recipe.datasetSize,
    latent: [4, LATENT, LATENT] as [number, number, number],
    length,
  };

  const dm = await prepareDiffusion({
    recipe,
    open: o.open,
    resume: o.resume?.diffusion,
    checkpointEvery: o.checkpointEvery,
    data,
    tokenizer,
    textEncoder: { model: model('text_encoder') },
    unet: { model: model('unet'), external: (_l, off, len) => unetData.subarray(off, off + len) },
  });
  yield {
    type: 'info',
    message: `diffusion: ${dm.params.size} weights, ${dm.graph.model.graph.nodes.length} nodes in the step graph`,
  };
  for await (const e of dm.events) yield e;
  await dm.session.release();
  const dmValues = (c: string) => componentValues(dm.graph, c, (n) => dm.params.value(n));
  const files = trainedFolder(base, {
    components: {
      text_encoder: dmValues('text_encoder'),
      unet: dmValues('unet'),
      vae_encoder: vaeValues('vae_encoder'),
      vae_decoder: decoderValues,
    },
    scalingFactor,
    preview,
    recipe,
    losses: {
      vaeLoss: vae.params.meta.loss,
      vaeRec: vae.params.meta.rec,
      vaeKl: vae.params.meta.kl,
      decoderRec: dec.params.meta.rec,
      diffusionLoss: dm.params.meta.loss,
    },
  });
  yield { type: 'model', files };
}
