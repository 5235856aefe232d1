/**
 * The JSON files of a diffusers/Optimum ONNX Stable Diffusion folder, as the tiny model writes them:
 * `model_index.json`, `scheduler/scheduler_config.json` and the text encoder's `config.json` (the UNet's and
 * VAE's live beside their configs in `unet-config.ts` and `vae.ts`).
 */

/** JSON text as Hugging Face writes it (2-space indent, trailing newline), as bytes. */
export const jsonBytes = (value: unknown): Uint8Array =>
  new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/** diffusers' model_index.json for an ONNX pipeline without safety checker. */
export const modelIndexJson = () => ({
  _class_name: 'OnnxStableDiffusionPipeline',
  _diffusers_version: '0.30.0',
  feature_extractor: [null, null],
  requires_safety_checker: false,
  safety_checker: [null, null],
  scheduler: ['diffusers', 'DDIMScheduler'],
  text_encoder: ['diffusers', 'OnnxRuntimeModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'OnnxRuntimeModel'],
  vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
  vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
});

/** SD1.x's DDIM schedule: scaled_linear 0.00085 → 0.012 over 1000 steps, offset 1, leading spacing, ε-prediction. */
export const schedulerConfigJson = () => ({
  _class_name: 'DDIMScheduler',
  _diffusers_version: '0.30.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  set_alpha_to_one: false,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
});

/** transformers' CLIPTextConfig for a text encoder config. */
export const textEncoderConfigJson = (
  c: {
    vocabSize: number;
    hiddenSize: number;
    layers: number;
    heads: number;
    intermediateSize: number;
    maxPositions: number;
    eps: number;
  },
  bosId: number,
  eosId: number,
) => ({
  architectures: ['CLIPTextModel'],
  model_type: 'clip_text_model',
  hidden_act: 'quick_gelu',
  hidden_size: c.hiddenSize,
  intermediate_size: c.intermediateSize,
  layer_norm_eps: c.eps,
  max_position_embeddings: c.maxPositions,
  num_attention_heads: c.heads,
  num_hidden_layers: c.layers,
  projection_dim: c.hiddenSize,
  vocab_size: c.vocabSize,
  bos_token_id: bosId,
  eos_token_id: eosId,
  pad_token_id: eosId,
  torch_dtype: 'float32',
});
