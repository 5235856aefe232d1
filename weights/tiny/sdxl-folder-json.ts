/**
 * The JSON files of an SDXL folder in the Optimum layout, as `tiny-xl` writes them: the pipeline index with both
 * text encoders and tokenizers, SDXL's Euler scheduler config, and the text encoders' CLIPTextConfig with the
 * legacy special-token ids SDXL's configs carry. Field names and values follow stabilityai/stable-diffusion-xl-base-1.0's
 * files; the sizes are the caller's.
 */
import { poolingFor, type TextEncoderConfig } from './text-encoder.ts';

/** diffusers' model_index.json for StableDiffusionXLPipeline (Optimum keeps the diffusers index). */
export const sdxlModelIndexJson = (forceZerosForEmptyPrompt: boolean) => ({
  _class_name: 'StableDiffusionXLPipeline',
  _diffusers_version: '0.30.0',
  feature_extractor: [null, null],
  force_zeros_for_empty_prompt: forceZerosForEmptyPrompt,
  image_encoder: [null, null],
  scheduler: ['diffusers', 'EulerDiscreteScheduler'],
  text_encoder: ['transformers', 'CLIPTextModel'],
  text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
  tokenizer: ['transformers', 'CLIPTokenizer'],
  tokenizer_2: ['transformers', 'CLIPTokenizer'],
  unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
});

/**
 * SDXL base's scheduler: EulerDiscreteScheduler over the SD betas (scaled_linear 0.00085 → 0.012), leading
 * spacing with offset 1, ε-prediction. Its DDIM-relevant fields are the same as SD1's.
 */
export const sdxlSchedulerConfigJson = () => ({
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: '0.30.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
  use_karras_sigmas: false,
});

/**
 * SDXL's special-token ids in both text encoders' configs: bos 0, eos 2, pad 1 — values from before
 * transformers' PR #24773 (the files say transformers 4.30.2), which are not CLIP's real ids (49406, 49407). The
 * eos id 2 is what selects transformers' legacy argmax pooling (`poolingFor`).
 */
export const SDXL_LEGACY_IDS = { bos_token_id: 0, eos_token_id: 2, pad_token_id: 1 } as const;

/** transformers' CLIPTextConfig of one SDXL text encoder (with `projection_dim` when it projects). */
export const sdxlTextEncoderConfigJson = (c: TextEncoderConfig, withProjection: boolean) => ({
  architectures: [withProjection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'],
  attention_dropout: 0,
  ...SDXL_LEGACY_IDS,
  dropout: 0,
  hidden_act: c.hiddenAct ?? 'quick_gelu',
  hidden_size: c.hiddenSize,
  intermediate_size: c.intermediateSize,
  layer_norm_eps: c.eps,
  max_position_embeddings: c.maxPositions,
  model_type: 'clip_text_model',
  num_attention_heads: c.heads,
  num_hidden_layers: c.layers,
  projection_dim: c.projectionDim ?? c.hiddenSize,
  torch_dtype: 'float32',
  vocab_size: c.vocabSize,
});

/** The pooling a config written by `sdxlTextEncoderConfigJson` asks transformers for. */
export const sdxlPooling = () => poolingFor(SDXL_LEGACY_IDS.eos_token_id);
