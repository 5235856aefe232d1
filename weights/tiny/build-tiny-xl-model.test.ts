import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskModelFiles, writeFiles } from '../../adapters/fs.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { parseSchedulerConfig } from '../../common/numerics/scheduler-config.ts';
import { openModelFolder } from '../model-folder.ts';
import { decodeModel } from '../onnx/proto.ts';
import { opCensus } from '../onnx/op-census.ts';
import { buildTinyXlModel } from './build-tiny-xl-model.ts';

const files = buildTinyXlModel({ seed: 0 });
const json = (name: string) => JSON.parse(new TextDecoder().decode(files[name]));
const graph = (name: string) => decodeModel(files[name]).graph;
const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('buildTinyXlModel', () => {
  test('writes every file of an Optimum-layout SDXL folder, in a few MB', () => {
    expect(Object.keys(files).sort()).toEqual([
      'model_index.json',
      'pseudoword.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json',
      'text_encoder/model.onnx',
      'text_encoder_2/config.json',
      'text_encoder_2/model.onnx',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/special_tokens_map.json',
      'tokenizer_2/tokenizer_config.json',
      'tokenizer_2/vocab.json',
      'unet/config.json',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'vae_decoder/config.json',
      'vae_decoder/model.onnx',
      'vae_encoder/config.json',
      'vae_encoder/model.onnx',
    ]);
    const total = Object.values(files).reduce((a, f) => a + f.length, 0);
    expect(total).toBeLessThan(5 << 20);
  });

  test("writes SDXL's pipeline index and Euler scheduler config, which the scheduler reader accepts", () => {
    expect(json('model_index.json')).toMatchObject({
      _class_name: 'StableDiffusionXLPipeline',
      force_zeros_for_empty_prompt: true,
      text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
      tokenizer_2: ['transformers', 'CLIPTokenizer'],
    });
    const s = parseSchedulerConfig(json('scheduler/scheduler_config.json'));
    expect([s._class_name, s.beta_schedule, s.beta_start, s.beta_end, s.steps_offset, s.timestep_spacing]).toEqual([
      'EulerDiscreteScheduler',
      'scaled_linear',
      0.00085,
      0.012,
      1,
      'leading',
    ]);
  });

  test("writes two text encoders of different widths and depths, with SDXL's legacy special-token ids", () => {
    expect(json('text_encoder/config.json')).toMatchObject({
      architectures: ['CLIPTextModel'],
      hidden_size: 32,
      num_hidden_layers: 2,
      hidden_act: 'quick_gelu',
      bos_token_id: 0,
      eos_token_id: 2,
      pad_token_id: 1,
    });
    expect(json('text_encoder_2/config.json')).toMatchObject({
      architectures: ['CLIPTextModelWithProjection'],
      hidden_size: 64,
      num_hidden_layers: 3,
      hidden_act: 'gelu',
      projection_dim: 48,
      eos_token_id: 2,
    });
    // Optimum's interfaces with output_hidden_states: N + 1 hidden states, index 0 the embeddings.
    expect(graph('text_encoder/model.onnx').outputs.map((o) => o.name)).toEqual([
      'last_hidden_state',
      'pooler_output',
      'hidden_states.0',
      'hidden_states.1',
      'hidden_states.2',
    ]);
    expect(graph('text_encoder_2/model.onnx').outputs.map((o) => o.name)).toEqual([
      'last_hidden_state',
      'text_embeds',
      'hidden_states.0',
      'hidden_states.1',
      'hidden_states.2',
      'hidden_states.3',
    ]);
    const ops = new Set(opCensus(decodeModel(files['text_encoder_2/model.onnx'])).map((o) => o.opType));
    expect(ops.has('Erf')).toBe(true); // exact GELU, as bigG
  });

  test('pads tokenizer_2 with "!" and tokenizer with EOS, as SDXL does', () => {
    expect(json('tokenizer/special_tokens_map.json').pad_token).toBe('<|endoftext|>');
    expect(json('tokenizer_2/special_tokens_map.json').pad_token).toBe('!');
    expect(files['tokenizer_2/vocab.json']).toEqual(files['tokenizer/vocab.json']);
  });

  test("writes a UNet config with SDXL's text_time addition, whose input width is 6 × time width + pooled width", () => {
    expect(json('unet/config.json')).toMatchObject({
      addition_embed_type: 'text_time',
      addition_time_embed_dim: 8,
      projection_class_embeddings_input_dim: 6 * 8 + 48,
      cross_attention_dim: 32 + 64,
      use_linear_projection: true,
      down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D'],
    });
    expect(graph('unet/model.onnx').inputs.map((i) => i.name)).toEqual([
      'sample',
      'timestep',
      'encoder_hidden_states',
      'text_embeds',
      'time_ids',
    ]);
  });

  test('gives byte-identical files for the same seed', () => {
    const again = buildTinyXlModel({ seed: 0 });
    for (const [name, bytes] of Object.entries(files)) expect(again[name]).toEqual(bytes);
  });

  test('opens as an SDXL model whose numbers all come from its configs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-tiny-xl-'));
    tmp.push(dir);
    writeFiles(dir, files);
    const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);
    expect(model.info).toMatchObject({ family: 'sdxl', resolution: 64, hiddenSize: 96, vaeScale: 8 });
    // Its first attention is at level 1 (heads [2, 4]), as SDXL's: what the memory estimate sizes.
    expect([model.info.attentionLevel, model.info.attentionHeads]).toEqual([1, 4]);
    // No scalingFactor in pseudoword.json: it is vae_decoder/config.json's.
    expect(model.info.scalingFactor).toBe(json('vae_decoder/config.json').scaling_factor);
    expect(model.info.sdxl).toEqual({
      textWidths: [32, 64],
      textLayers: [2, 3],
      contextOutputs: ['hidden_states.1', 'hidden_states.2'],
      pooledWidth: 48,
      pooledOutput: 'text_embeds',
      timeEmbedDim: 8,
      forceZerosForEmptyPrompt: true,
      pooling: 'argmax',
    });
    expect(model.tokenizer2?.padId).toBe(0);
    expect(model.tokenizer.padId).toBe(model.tokenizer.eosId);
    await model.release();
  });
});
