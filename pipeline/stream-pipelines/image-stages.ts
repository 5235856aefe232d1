/**
 * Registry entries for moving between files, pixels and latents: decode-image, vae-encode, vae-decode. Each is a
 * settings schema plus a factory over a stage from `stages/`.
 */
import { z } from 'zod';
import { decodeInputImage } from '../../stages/decode-input-image.ts';
import { vaeDecodeLatent } from '../../stages/vae-decode-latent.ts';
import { vaeEncodeImage } from '../../stages/vae-encode-image.ts';
import { PipelineError } from '../../common/errors.ts';
import { defineStage } from './stage-definition.ts';

/** PNG/JPEG/WebP bytes → RGBA, optionally resized and centre-cropped to a square. */
export const decodeImageStage = defineStage({
  name: 'decode-image',
  summary:
    'decode PNG, JPEG or WebP files (EXIF orientation applied), optionally resized and centre-cropped to a square',
  input: 'image-file',
  output: 'image',
  settings: z.strictObject({
    /** Shorter side resized to this, then the centre square kept; null keeps the size. */
    resolution: z.int().min(8).max(4096).nullable().default(null),
  }),
  create: (s) => decodeInputImage(s),
});

/** RGBA → z = s·E(x). */
export const vaeEncodeStage = defineStage({
  name: 'vae-encode',
  summary: "encode images to latents with the model's VAE encoder (z = s·E(x), the posterior mean or a seeded draw)",
  input: 'image',
  output: 'latent',
  settings: z.strictObject({
    sample: z.enum(['mean', 'sample']).default('mean'),
    seed: z.int().min(0).default(0),
  }),
  create: async (s, ctx) => {
    const model = await ctx.model();
    if (!(await model.has('vae_encoder')))
      throw new PipelineError('bad_model', `'${model.files.root}' has no vae_encoder/model.onnx; vae-encode needs it`);
    const { scalingFactor, latentChannels: channels, vaeScale } = model.info;
    return vaeEncodeImage(await model.session('vae_encoder'), { scalingFactor, channels, vaeScale, ...s });
  },
});

/** z → RGBA through the VAE decoder. */
export const vaeDecodeStage = defineStage({
  name: 'vae-decode',
  summary: "decode latents to images with the model's VAE decoder (x = D(z / s))",
  input: 'latent',
  output: 'image',
  settings: z.strictObject({}),
  create: async (_s, ctx) => {
    const model = await ctx.model();
    return vaeDecodeLatent(await model.session('vae_decoder'), model.info.scalingFactor);
  },
});
