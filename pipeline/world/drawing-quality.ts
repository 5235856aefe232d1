/**
 * The embedded model's quality bar — do the world's prompts render recognisably? `prompts` random scenes of basic
 * shapes, each drawn from its full caption ("a small red star on the left on a blue striped background"); the
 * recogniser's agreement with the caption per attribute, beside two references: the real scenes (what the
 * recogniser itself gets right) and the real scenes through the model's VAE (what its latent space can carry at
 * best), and chance (one over the number of labels).
 */
import { from, lastValueFrom, map, toArray } from 'rxjs';
import type { RgbaImage } from '../../common/image/image.ts';
import { createRng } from '../../common/numerics/rng.ts';
import type { SdModel } from '../../weights/model-folder.ts';
import type { Session } from '../../weights/session.ts';
import { vaeEncodeImage } from '../../stages/vae-encode-image.ts';
import { vaeDecodeLatent } from '../../stages/vae-decode-latent.ts';
import { captionScene } from './caption.ts';
import { drawPrompt } from './eval.ts';
import { recognise } from './recognise.ts';
import { recogniserHeads, sceneLabels, type RecogniserHead } from './recogniser.ts';
import { renderScene } from './render.ts';
import { randomScene } from './sample.ts';
import { shapes, type Scene } from './world.ts';

export interface DrawingQualityConfig {
  model: string;
  /** Random world prompts to draw. */
  prompts: number;
  guidance: number;
  ddimSteps: number;
  /** Seed of the scenes; prompt k is drawn with seed + k. */
  seed: number;
  device: 'cpu' | 'cuda';
}

export interface DrawingQualityDeps {
  openModel: (name: string, device: 'cpu' | 'cuda') => Promise<SdModel>;
  recogniser: Session;
  log?: (message: string) => void;
}

type Rates = Record<RecogniserHead['name'], number>;

/** The measurement: agreement rates per attribute, and what was drawn. */
export interface DrawingQuality {
  chance: Rates;
  generated: Rates;
  throughVae: Rates;
  real: Rates;
  scenes: Scene[];
  prompts: string[];
  images: RgbaImage[];
}

/**
 * The scenes of a seed: uniform over every attribute, basic shapes only (the concepts have no word to prompt).
 *
 * @example
 * qualityScenes(0, 2).map((s) => s.object); // e.g. ['star', 'ring']
 */
export const qualityScenes = (seed: number, n: number): Scene[] => {
  const root = createRng(seed).fork('drawing-quality');
  return Array.from({ length: n }, (_, i) => {
    const r = root.fork(`scene:${i}`);
    return randomScene(r, shapes[r.int(shapes.length)]);
  });
};

/**
 * Per attribute, the fraction of images whose recognised label is the scene's.
 *
 * @example
 * agreement(await recognise(session, images), scenes).colour; // 0.9
 */
export const agreement = (got: readonly { labels: Record<string, string> }[], scenes: readonly Scene[]): Rates => {
  const rates = {} as Rates;
  for (const h of recogniserHeads)
    rates[h.name] =
      got.filter((g, i) => g.labels[h.name] === sceneLabels(scenes[i])[h.name]).length / Math.max(1, got.length);
  return rates;
};

/**
 * Draws the prompts and measures.
 *
 * @example
 * const q = await measureDrawing({ model: 'tiny', prompts: 64, guidance: 5, ddimSteps: 50, seed: 0, device: 'cpu' },
 * deps);
 * q.generated.colour; // fraction of drawings whose colour the recogniser reads as the prompt's
 */
export const measureDrawing = async (cfg: DrawingQualityConfig, deps: DrawingQualityDeps): Promise<DrawingQuality> => {
  const model = await deps.openModel(cfg.model, cfg.device);
  const { resolution, scalingFactor, latentChannels: channels, vaeScale } = model.info;
  const scenes = qualityScenes(cfg.seed, cfg.prompts);
  const prompts = scenes.map((s) => captionScene(s));
  const real = scenes.map((s) => renderScene(s, resolution));
  deps.log?.(`drawing ${prompts.length} world prompts (${cfg.ddimSteps} DDIM steps, guidance ${cfg.guidance})`);
  const images: RgbaImage[] = [];
  for (const [k, prompt] of prompts.entries()) images.push(await drawPrompt(model, cfg, prompt, cfg.seed + k));
  const [encoder, decoder] = [await model.session('vae_encoder'), await model.session('vae_decoder')];
  const roundTrip = await lastValueFrom(
    from(real.map((image, index) => ({ index, name: prompts[index], image }))).pipe(
      vaeEncodeImage(encoder, { scalingFactor, channels, vaeScale, sample: 'mean', seed: 0 }),
      vaeDecodeLatent(decoder, scalingFactor),
      map((item) => item.image),
      toArray(),
    ),
  );
  const rate = async (imgs: readonly RgbaImage[]) => agreement(await recognise(deps.recogniser, imgs), scenes);
  const chance = Object.fromEntries(recogniserHeads.map((h) => [h.name, 1 / h.labels.length])) as Rates;
  return {
    chance,
    generated: await rate(images),
    throughVae: await rate(roundTrip),
    real: await rate(real),
    scenes,
    prompts,
    images,
  };
};
