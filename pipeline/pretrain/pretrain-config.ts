/**
 * The shipped `tiny` model's sizes and the recipe that trains it. The sizes are the SD1.x component structure
 * scaled to train on two CPU cores in about an hour; the recipe is step-counted (not timed) so the same seed
 * gives the same weights on any machine.
 */
import type { UnetConfig } from '../../weights/tiny/unet-config.ts';
import type { VaeConfig } from '../../weights/tiny/vae.ts';
import type { TextEncoderConfig } from '../../weights/tiny/text-encoder.ts';

export interface PhaseRecipe {
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
}

export interface PretrainRecipe {
  seed: number;
  /** Distinct world samples the VAE and the diffusion model train on (latents are cached for these). */
  datasetSize: number;
  /** `objectWeight` λ: the object's pixels weigh 1 + λ in the reconstruction error (0 or absent: plain MSE). */
  vae: PhaseRecipe & { beta: number; objectWeight?: number };
  diffusion: PhaseRecipe & { captionDropout: number };
  /**
   * Phase 3: the VAE decoder alone, encoder frozen — the latents diffusion learned stay valid, and the decoder
   * keeps improving (the joint VAE phase is cut short by the time budget, not by convergence).
   */
  decoder: PhaseRecipe;
  /** Global gradient-norm clip for both phases. */
  clipNorm: number;
  weightDecay: number;
}

/**
 * The trained model's VAE: (16, 32, 64) channels, one resnet per level (two on the way up), three levels: ×4, so
 * 64-px scenes make 16×16 latents. SD's ×8 turns 512 px into 64×64 latents; ours at ×8 left 8×8, where an object
 * spans about two latent pixels, and that VAE (measured: 1500 steps, 8–32 channels) lost most objects' colour and
 * shape — the recogniser read 16 % of objects and 23 % of colours back from its reconstructions. Four norm groups,
 * so a group holds ≥ 4 channels as in SD (128/32): with one channel per group, GroupNorm is InstanceNorm, which
 * removes each image's mean colour and the reconstruction loss stalls at about the colour variance.
 */
export const shippedVaeConfig: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [16, 32, 64],
  layersPerBlock: 1,
  normGroups: 4,
  scalingFactor: 1,
};

/**
 * The trained model's UNet: the default tiny one (32, 64 channels, attention at both levels, text width 64) with
 * pixel coordinates added after conv_in. Without them it drew every object in the centre whatever position the
 * prompt named (recogniser agreement 0.23, chance 0.2); with them 0.38, and colour, pattern and background rose too
 * (0.63 / 0.59 / 0.55 → 0.80 / 0.79 / 0.84, with 6000 steps instead of 4000). A third level (4×4, where every pixel
 * touches the zero padding that tells convolutions where they are) had not fixed position in a 3000-step run and
 * drew the rest worse.
 */
export const shippedUnetConfig: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [32, 64],
  layersPerBlock: 1,
  crossAttention: [true, true],
  heads: 2,
  crossAttentionDim: 64,
  normGroups: 8,
  normEps: 1e-5,
  useLinearProjection: false,
  transformerLayers: 1,
  coordinates: true,
};

/** The trained model's text encoder: the default tiny one (width 64, 2 layers). */
export const shippedTextConfig: Partial<Omit<TextEncoderConfig, 'vocabSize'>> = {
  hiddenSize: 64,
  layers: 2,
  heads: 2,
  intermediateSize: 256,
};

/** The recipe `pretrain` runs by default: what produced `weights/shipped/tiny/`. */
export const defaultRecipe: PretrainRecipe = {
  seed: 0,
  datasetSize: 16384,
  vae: { steps: 3000, batch: 8, lr: 2.5e-3, warmup: 50, beta: 1e-3, objectWeight: 4 },
  diffusion: { steps: 6000, batch: 32, lr: 1.5e-3, warmup: 100, captionDropout: 0.1 },
  decoder: { steps: 600, batch: 8, lr: 1e-3, warmup: 50 },
  clipNorm: 1,
  weightDecay: 0.01,
};

/**
 * A recipe scaled down (for tests and smoke runs): every step count divided, at least one step each.
 *
 * @example
 * scaleRecipe(defaultRecipe, 0.01).vae.steps; // 7
 */
export const scaleRecipe = (r: PretrainRecipe, f: number): PretrainRecipe => ({
  ...r,
  vae: { ...r.vae, steps: Math.max(1, Math.round(r.vae.steps * f)), warmup: Math.round(r.vae.warmup * f) },
  diffusion: {
    ...r.diffusion,
    steps: Math.max(1, Math.round(r.diffusion.steps * f)),
    warmup: Math.round(r.diffusion.warmup * f),
  },
  decoder: {
    ...r.decoder,
    steps: Math.max(1, Math.round(r.decoder.steps * f)),
    warmup: Math.round(r.decoder.warmup * f),
  },
});
