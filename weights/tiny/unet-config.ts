/**
 * The UNet2DConditionModel hyper-parameters `buildUnet` reads — the fields of a diffusers `unet/config.json` that
 * shape the graph, in camelCase. The tiny model and an SD1.5-size benchmark UNet differ only in this object.
 */
export interface UnetConfig {
  inChannels: number;
  outChannels: number;
  /** Channels per resolution level; the first also sets the time-embedding width (4× it). */
  blockOutChannels: number[];
  /** ResNet (and Transformer) blocks per down level; up levels get one more, as in diffusers. */
  layersPerBlock: number;
  /** Per down level: CrossAttnDownBlock2D (true) or DownBlock2D; the up path mirrors it. */
  crossAttention: boolean[];
  /** Heads per level (SD1's `attention_head_dim: 8` is really a head count), or one count for all. */
  heads: number | number[];
  /** Width of encoder_hidden_states. */
  crossAttentionDim: number;
  normGroups: number;
  normEps: number;
  useLinearProjection: boolean;
  /** Transformer blocks per attention (SDXL's `transformer_layers_per_block` is per level: [1, 2, 10]). */
  transformerLayers: number | number[];
  /**
   * Not in diffusers: add a learned projection of each pixel's (x, y) to conv_in's output (CoordConv), so a small
   * UNet can tell where it draws. Written to config.json as `pseudoword_coordinates`.
   */
  coordinates?: boolean;
  /**
   * SDXL's `addition_embed_type: "text_time"`: the UNet also takes `text_embeds` [B, textEmbedsDim] (the pooled,
   * projected prompt) and `time_ids` [B, 6], embedded with `addition_time_embed_dim` = timeEmbedDim and added to
   * the timestep embedding; `projection_class_embeddings_input_dim` = textEmbedsDim + 6·timeEmbedDim.
   */
  addition?: { textEmbedsDim: number; timeEmbedDim: number };
}

/** The embedded `tiny` model's UNet: two levels (32, 64), attention at both, 2 heads, text width 64. */
export const tinyUnetConfig: UnetConfig = {
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
};

/** runwayml/stable-diffusion-v1-5's unet/config.json — 859,520,964 parameters. */
export const sd15UnetConfig: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [320, 640, 1280, 1280],
  layersPerBlock: 2,
  crossAttention: [true, true, true, false],
  heads: 8,
  crossAttentionDim: 768,
  normGroups: 32,
  normEps: 1e-5,
  useLinearProjection: false,
  transformerLayers: 1,
};

/**
 * stabilityai/stable-diffusion-xl-base-1.0's unet/config.json — 2,567,463,684 parameters: no attention at the first
 * level, 1/2/10 transformer blocks per attention by level (the mid block takes the deepest's), linear projections,
 * context 768 + 1280, and the text_time added embedding (pooled 1280, time ids 6 × 256).
 */
export const sdxlUnetConfig: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [320, 640, 1280],
  layersPerBlock: 2,
  crossAttention: [false, true, true],
  heads: [5, 10, 20],
  crossAttentionDim: 2048,
  normGroups: 32,
  normEps: 1e-5,
  useLinearProjection: true,
  transformerLayers: [1, 2, 10],
  addition: { textEmbedsDim: 1280, timeEmbedDim: 256 },
};

/** The transformer blocks per attention at level `i`. */
export const transformerLayersAt = (c: UnetConfig, i: number): number =>
  typeof c.transformerLayers === 'number' ? c.transformerLayers : c.transformerLayers[i];

/** The heads of level `i`. */
export const headsAt = (c: UnetConfig, i: number): number => (typeof c.heads === 'number' ? c.heads : c.heads[i]);

/** diffusers' unet/config.json for a config (what a real export folder carries next to model.onnx). */
export const unetConfigJson = (c: UnetConfig, sampleSize: number) => ({
  _class_name: 'UNet2DConditionModel',
  _diffusers_version: '0.30.0',
  act_fn: 'silu',
  attention_head_dim: c.heads,
  block_out_channels: c.blockOutChannels,
  center_input_sample: false,
  cross_attention_dim: c.crossAttentionDim,
  down_block_types: c.crossAttention.map((a) => (a ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: c.inChannels,
  layers_per_block: c.layersPerBlock,
  mid_block_scale_factor: 1,
  norm_eps: c.normEps,
  norm_num_groups: c.normGroups,
  out_channels: c.outChannels,
  sample_size: sampleSize,
  transformer_layers_per_block: c.transformerLayers,
  up_block_types: [...c.crossAttention].reverse().map((a) => (a ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
  use_linear_projection: c.useLinearProjection,
  ...(c.coordinates ? { pseudoword_coordinates: true } : {}),
  ...(c.addition
    ? {
        addition_embed_type: 'text_time',
        addition_time_embed_dim: c.addition.timeEmbedDim,
        projection_class_embeddings_input_dim: c.addition.textEmbedsDim + 6 * c.addition.timeEmbedDim,
      }
    : {}),
});
