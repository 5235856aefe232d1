/**
 * A UNet2DConditionModel graph from an SD-like config, with Optimum's interface:
 * `sample` float32 [batch, 4, height, width], `timestep` float32 [steps] (steps = batch, or 1 to broadcast),
 * `encoder_hidden_states` float32 [batch, sequence, crossAttentionDim] → `out_sample` [batch, 4, height, width];
 * with `addition` (SDXL) also `text_embeds` [batch, textEmbedsDim] and `time_ids` [batch, 6].
 * Weights go to an external-data file (as Optimum saves UNets), generated chunk by chunk on demand.
 */
import { buildModel, type BuildOptions, type BuiltModel } from './built-model.ts';
import type { LayerContext } from './layers/context.ts';
import { conv2d } from './layers/conv.ts';
import { groupNorm } from './layers/norm.ts';
import { silu } from './layers/activations.ts';
import { resnetBlock } from './layers/resnet-block.ts';
import { transformer2d } from './layers/transformer-2d.ts';
import { downsample, upsample } from './layers/sampling.ts';
import { addedTimeTextEmbedding, TIME_IDS, timeEmbedding } from './layers/time-embedding.ts';
import { addCoordinates } from './layers/coordinates.ts';
import { headsAt, transformerLayersAt, type UnetConfig } from './unet-config.ts';

const buildUnetGraph = (ctx: LayerContext, c: UnetConfig) => {
  const { b } = ctx;
  const sample = b.input('sample', 'float32', ['batch', c.inChannels, 'height', 'width']);
  const timestep = b.input('timestep', 'float32', ['steps']);
  const text = b.input('encoder_hidden_states', 'float32', ['batch', 'sequence', c.crossAttentionDim]);
  const added = c.addition && {
    textEmbeds: b.input('text_embeds', 'float32', ['batch', c.addition.textEmbedsDim]),
    timeIds: b.input('time_ids', 'float32', ['batch', TIME_IDS]),
  };
  const boc = c.blockOutChannels;
  const n = boc.length;
  let t = timeEmbedding(ctx, timestep, boc[0]);
  // SDXL: emb = time_embedding(t) + add_embedding([text_embeds, time_ids embedded]), before the resnets' SiLU.
  if (c.addition && added) {
    const widths = { textWidth: c.addition.textEmbedsDim, timeWidth: c.addition.timeEmbedDim, outWidth: 4 * boc[0] };
    const aug = addedTimeTextEmbedding(ctx, added.textEmbeds, added.timeIds, widths);
    t = b.op('Add', [t, aug], {}, { name: 'add_embedding/Add' });
  }
  const temb = { value: silu(ctx, 'resnets.temb_act', t), channels: 4 * boc[0] };
  const resnet = (name: string, x: string, inC: number, outC: number) =>
    resnetBlock(ctx, name, x, { inChannels: inC, outChannels: outC, groups: c.normGroups, eps: c.normEps, temb });
  const attend = (name: string, x: string, ch: number, level: number) =>
    transformer2d(ctx, name, x, text, {
      channels: ch,
      heads: headsAt(c, level),
      crossAttentionDim: c.crossAttentionDim,
      groups: c.normGroups,
      useLinearProjection: c.useLinearProjection,
      layers: transformerLayersAt(c, level),
    });

  let h = conv2d(ctx, 'conv_in', sample, c.inChannels, boc[0]);
  if (c.coordinates) h = addCoordinates(ctx, 'pos_in', sample, h, boc[0]);
  const skips: { value: string; channels: number }[] = [{ value: h, channels: boc[0] }];
  let outC = boc[0];
  for (let i = 0; i < n; i++) {
    const inC = outC;
    outC = boc[i];
    for (let j = 0; j < c.layersPerBlock; j++) {
      h = resnet(`down_blocks.${i}.resnets.${j}`, h, j === 0 ? inC : outC, outC);
      if (c.crossAttention[i]) h = attend(`down_blocks.${i}.attentions.${j}`, h, outC, i);
      skips.push({ value: h, channels: outC });
    }
    if (i < n - 1) {
      h = downsample(ctx, `down_blocks.${i}.downsamplers.0`, h, outC, 'symmetric');
      skips.push({ value: h, channels: outC });
    }
  }

  const deepest = boc[n - 1];
  h = resnet('mid_block.resnets.0', h, deepest, deepest);
  h = attend('mid_block.attentions.0', h, deepest, n - 1);
  h = resnet('mid_block.resnets.1', h, deepest, deepest);

  const reversed = [...boc].reverse();
  outC = reversed[0];
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const prevOut = outC;
    outC = reversed[i];
    for (let j = 0; j <= c.layersPerBlock; j++) {
      const skip = skips.pop()!;
      const cat = b.op('Concat', [h, skip.value], { axis: 1 }, { name: `up_blocks.${i}.resnets.${j}/Concat` });
      h = resnet(`up_blocks.${i}.resnets.${j}`, cat, (j === 0 ? prevOut : outC) + skip.channels, outC);
      if (c.crossAttention[level]) h = attend(`up_blocks.${i}.attentions.${j}`, h, outC, level);
    }
    if (i < n - 1) h = upsample(ctx, `up_blocks.${i}.upsamplers.0`, h, outC);
  }

  h = silu(ctx, 'conv_act', groupNorm(ctx, 'conv_norm_out', h, boc[0], c.normGroups, c.normEps));
  const out = conv2d(ctx, 'conv_out', h, boc[0], c.outChannels);
  b.output(out, 'float32', ['batch', c.outChannels, 'height', 'width'], 'out_sample');
};

/**
 * Builds a UNet from `config`; weights are seeded PyTorch-style initial values (nothing is trained).
 *
 * @example
 * const { model, external } = buildUnet(tinyUnetConfig, { seed: 0 });
 * // write model to unet/model.onnx and every chunk of external!.chunks() to unet/model.onnx_data
 */
export const buildUnet = (config: UnetConfig, o: BuildOptions = {}): BuiltModel =>
  buildModel('unet', o, 'model.onnx_data', (ctx) => buildUnetGraph(ctx, config));
