/**
 * AutoencoderKL's two halves as Optimum exports them: `vae_encoder` (`sample` [batch, 3, H, W] in [−1, 1] →
 * `latent_parameters` [batch, 2·latent, H/8, W/8], mean and log-variance concatenated on channels) and
 * `vae_decoder` (`latent_sample` [batch, latent, h, w], already divided by the scaling factor → `sample`
 * [batch, 3, 8h, 8w]). One ×2 resampling per level but the last: 4 levels = ×8, as in SD.
 */
import { buildModel, type BuildOptions, type BuiltModel } from './built-model.ts';
import type { LayerContext } from './layers/context.ts';
import { conv2d } from './layers/conv.ts';
import { groupNorm } from './layers/norm.ts';
import { silu } from './layers/activations.ts';
import { resnetBlock } from './layers/resnet-block.ts';
import { attentionModule } from './layers/attention.ts';
import { downsample, fromSequence, toSequence, upsample } from './layers/sampling.ts';

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normGroups: number;
  scalingFactor: number;
}

/**
 * The tiny model's VAE: levels (16, 32, 32, 32), 2 resnets per level as SD's, 8 groups. The scaling factor plays
 * SD's 0.18215 role — 1/std of the encoder's latent means, so diffusion sees unit-variance latents: the seed-0
 * encoder's means have std ≈ 0.28 on smooth, noisy and blocky test images alike (0.17–0.29 over seeds 0–2).
 */
export const tinyVaeConfig: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [16, 32, 32, 32],
  layersPerBlock: 2,
  normGroups: 8,
  scalingFactor: 3.5,
};

/**
 * How many pixels one latent pixel spans per side: ×2 per level but the last (SD's 4 levels: 8).
 *
 * @example
 * vaeScale(tinyVaeConfig); // 8
 */
export const vaeScale = (c: Pick<VaeConfig, 'blockOutChannels'>): number => 2 ** (c.blockOutChannels.length - 1);

// Every norm in AutoencoderKL uses eps 1e-6.
const EPS = 1e-6;

const resnet = (ctx: LayerContext, c: VaeConfig, name: string, x: string, inC: number, outC: number) =>
  resnetBlock(ctx, name, x, { inChannels: inC, outChannels: outC, groups: c.normGroups, eps: EPS });

/** UNetMidBlock2D: resnet, single-head self-attention over pixels (with its own GroupNorm and residual), resnet. */
const midBlock = (ctx: LayerContext, c: VaeConfig, name: string, x: string, ch: number): string => {
  let h = resnet(ctx, c, `${name}.resnets.0`, x, ch, ch);
  const attn = `${name}.attentions.0`;
  const seq = toSequence(ctx, attn, groupNorm(ctx, `${attn}.group_norm`, h, ch, c.normGroups, EPS), ch);
  const o = attentionModule(ctx, attn, seq, undefined, { dim: ch, heads: 1, qkvBias: true });
  h = ctx.b.op('Add', [fromSequence(ctx, attn, o, h), h], {}, { name: `${attn}/Add` });
  return resnet(ctx, c, `${name}.resnets.1`, h, ch, ch);
};

const encoderGraph = (ctx: LayerContext, c: VaeConfig) => {
  const { b } = ctx;
  const boc = c.blockOutChannels;
  const x = b.input('sample', 'float32', ['batch', c.inChannels, 'height', 'width']);
  let h = conv2d(ctx, 'encoder.conv_in', x, c.inChannels, boc[0]);
  let outC = boc[0];
  for (let i = 0; i < boc.length; i++) {
    const inC = outC;
    outC = boc[i];
    for (let j = 0; j < c.layersPerBlock; j++)
      h = resnet(ctx, c, `encoder.down_blocks.${i}.resnets.${j}`, h, j === 0 ? inC : outC, outC);
    if (i < boc.length - 1) h = downsample(ctx, `encoder.down_blocks.${i}.downsamplers.0`, h, outC, 'right-bottom');
  }
  const deepest = boc[boc.length - 1];
  h = midBlock(ctx, c, 'encoder.mid_block', h, deepest);
  h = silu(ctx, 'encoder.conv_act', groupNorm(ctx, 'encoder.conv_norm_out', h, deepest, c.normGroups, EPS));
  h = conv2d(ctx, 'encoder.conv_out', h, deepest, 2 * c.latentChannels);
  const moments = conv2d(ctx, 'quant_conv', h, 2 * c.latentChannels, 2 * c.latentChannels, { kernel: 1 });
  b.output(moments, 'float32', ['batch', 2 * c.latentChannels, 'latent_height', 'latent_width'], 'latent_parameters');
};

const decoderGraph = (ctx: LayerContext, c: VaeConfig) => {
  const { b } = ctx;
  const reversed = [...c.blockOutChannels].reverse();
  const z = b.input('latent_sample', 'float32', ['batch', c.latentChannels, 'latent_height', 'latent_width']);
  let h = conv2d(ctx, 'post_quant_conv', z, c.latentChannels, c.latentChannels, { kernel: 1 });
  h = conv2d(ctx, 'decoder.conv_in', h, c.latentChannels, reversed[0]);
  h = midBlock(ctx, c, 'decoder.mid_block', h, reversed[0]);
  let outC = reversed[0];
  for (let i = 0; i < reversed.length; i++) {
    const prevOut = outC;
    outC = reversed[i];
    for (let j = 0; j <= c.layersPerBlock; j++)
      h = resnet(ctx, c, `decoder.up_blocks.${i}.resnets.${j}`, h, j === 0 ? prevOut : outC, outC);
    if (i < reversed.length - 1) h = upsample(ctx, `decoder.up_blocks.${i}.upsamplers.0`, h, outC);
  }
  const first = c.blockOutChannels[0];
  h = silu(ctx, 'decoder.conv_act', groupNorm(ctx, 'decoder.conv_norm_out', h, first, c.normGroups, EPS));
  b.output(
    conv2d(ctx, 'decoder.conv_out', h, first, c.outChannels),
    'float32',
    ['batch', c.outChannels, 'height', 'width'],
    'sample',
  );
};

/**
 * The VAE encoder (images → latent distribution parameters); weights inline unless `externalData` names a file.
 *
 * @example
 * const { model } = buildVaeEncoder(tinyVaeConfig, { seed: 0 });
 */
export const buildVaeEncoder = (c: VaeConfig, o: BuildOptions = {}): BuiltModel =>
  buildModel('vae_encoder', o, undefined, (ctx) => encoderGraph(ctx, c));

/**
 * The VAE decoder (latents ÷ scaling factor → images in about [−1, 1]).
 *
 * @example
 * const { model } = buildVaeDecoder(tinyVaeConfig, { seed: 0 });
 */
export const buildVaeDecoder = (c: VaeConfig, o: BuildOptions = {}): BuiltModel =>
  buildModel('vae_decoder', o, undefined, (ctx) => decoderGraph(ctx, c));

/** diffusers' vae config.json for a config (read by pipelines for scaling_factor). */
export const vaeConfigJson = (c: VaeConfig, sampleSize: number) => ({
  _class_name: 'AutoencoderKL',
  _diffusers_version: '0.30.0',
  act_fn: 'silu',
  block_out_channels: c.blockOutChannels,
  down_block_types: c.blockOutChannels.map(() => 'DownEncoderBlock2D'),
  in_channels: c.inChannels,
  latent_channels: c.latentChannels,
  layers_per_block: c.layersPerBlock,
  norm_num_groups: c.normGroups,
  out_channels: c.outChannels,
  sample_size: sampleSize,
  scaling_factor: c.scalingFactor,
  up_block_types: c.blockOutChannels.map(() => 'UpDecoderBlock2D'),
});
