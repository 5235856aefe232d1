import { describe, expect, test } from 'bun:test';
import { errorOf } from '../test/support/error-of.ts';
import { readSdxlInfo, type SdxlSources } from './sdxl-info.ts';

const hidden = (n: number, width: number) =>
  Array.from({ length: n + 1 }, (_, i) => ({ name: `hidden_states.${i}`, shape: ['batch', 'sequence', width] }));
/** SDXL base's numbers (stabilityai/stable-diffusion-xl-base-1.0's configs and Optimum's graph interfaces). */
const base = (): SdxlSources => ({
  modelIndex: { _class_name: 'StableDiffusionXLPipeline', force_zeros_for_empty_prompt: true },
  textEncoderConfig: { hidden_size: 768, num_hidden_layers: 12, eos_token_id: 2 },
  textEncoder2Config: { hidden_size: 1280, num_hidden_layers: 32, projection_dim: 1280, eos_token_id: 2 },
  unetConfig: {
    cross_attention_dim: 2048,
    addition_embed_type: 'text_time',
    addition_time_embed_dim: 256,
    projection_class_embeddings_input_dim: 2816,
  },
  textEncoderOutputs: [{ name: 'last_hidden_state' }, { name: 'pooler_output' }, ...hidden(12, 768)],
  textEncoder2Outputs: [{ name: 'text_embeds' }, { name: 'last_hidden_state' }, ...hidden(32, 1280)],
  unetInputs: ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'].map((name) => ({ name })),
});

describe('reading an SDXL folder', () => {
  test("reads SDXL base's shape: 768 + 1280 context from hidden_states.11 and .31, pooled 1280, legacy pooling", () => {
    expect(readSdxlInfo(base())).toEqual({
      textWidths: [768, 1280],
      textLayers: [12, 32],
      contextOutputs: ['hidden_states.11', 'hidden_states.31'],
      pooledWidth: 1280,
      pooledOutput: 'text_embeds',
      timeEmbedDim: 256,
      forceZerosForEmptyPrompt: true,
      pooling: 'argmax',
    });
  });

  test('follows the configs, not SDXL’s numbers: no force-zeros, a real eos id, other widths', () => {
    const s = base();
    s.modelIndex = { force_zeros_for_empty_prompt: false };
    s.textEncoder2Config = { ...s.textEncoder2Config, eos_token_id: 49407 };
    const info = readSdxlInfo(s);
    expect([info.forceZerosForEmptyPrompt, info.pooling]).toEqual([false, 'first-eos']);
  });

  test('refuses an added-embedding width that is not 6 × time width + projection width, naming the numbers', () => {
    const s = base();
    s.unetConfig = { ...s.unetConfig, projection_class_embeddings_input_dim: 2560 };
    const e = errorOf(() => readSdxlInfo(s));
    expect([e.code, e.message]).toEqual([
      'bad_model',
      "unet/config.json's projection_class_embeddings_input_dim is 2560, but 6 time ids × 256 + text_encoder_2's projection_dim 1280 = 2816",
    ]);
  });

  test('refuses a context width the two encoders do not add up to', () => {
    const s = base();
    s.unetConfig = { ...s.unetConfig, cross_attention_dim: 1280 };
    expect(errorOf(() => readSdxlInfo(s)).message).toBe(
      'the UNet attends to a context 1280 wide, but text_encoder (768) and text_encoder_2 (1280) give 2048',
    );
  });

  test('refuses an encoder exported without its hidden states, naming the one SDXL needs', () => {
    const s = base();
    s.textEncoder2Outputs = [{ name: 'text_embeds' }, { name: 'last_hidden_state' }];
    expect(errorOf(() => readSdxlInfo(s)).message).toStartWith(
      "text_encoder_2/model.onnx has no output 'hidden_states.31' (the penultimate hidden state of its 32 layers",
    );
  });

  test('refuses a UNet without text_embeds and time_ids', () => {
    const s = base();
    s.unetInputs = s.unetInputs.filter((i) => i.name !== 'time_ids');
    expect(errorOf(() => readSdxlInfo(s)).message).toContain('its UNet takes no text_embeds/time_ids');
  });
});
