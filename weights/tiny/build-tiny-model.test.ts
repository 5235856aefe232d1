import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskModelFiles, writeFiles } from '../../adapters/fs.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { parseSchedulerConfig } from '../../common/numerics/scheduler-config.ts';
import { openModelFolder } from '../model-folder.ts';
import { pseudowordModelJson } from '../model-info.ts';
import { decodeModel } from '../onnx/proto.ts';
import { opCensus } from '../onnx/op-census.ts';
import { readTensorProto } from '../onnx/tensor-proto.ts';
import { buildTinyModel, tinyModelVersion } from './build-tiny-model.ts';

const files = buildTinyModel({ seed: 0 });
const text = (name: string) => new TextDecoder().decode(files[name]);
const json = (name: string) => JSON.parse(text(name));
const ops = (name: string) => new Set(opCensus(decodeModel(files[name])).map((o) => o.opType));
const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('buildTinyModel', () => {
  test('writes every file of an Optimum-layout Stable Diffusion folder', () => {
    expect(Object.keys(files).sort()).toEqual([
      'model_index.json',
      'pseudoword.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json',
      'text_encoder/model.onnx',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'unet/config.json',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'vae_decoder/config.json',
      'vae_decoder/model.onnx',
      'vae_encoder/config.json',
      'vae_encoder/model.onnx',
    ]);
    expect(json('model_index.json')._class_name).toBe('OnnxStableDiffusionPipeline');
    expect(json('model_index.json').unet).toEqual(['diffusers', 'OnnxRuntimeModel']);
    const total = Object.values(files).reduce((a, f) => a + f.length, 0);
    expect(total).toBeLessThan(8 << 20);
  });

  test("writes SD1's DDIM schedule, which the pipeline's scheduler reader accepts as it is", () => {
    const s = parseSchedulerConfig(json('scheduler/scheduler_config.json'));
    expect([s.beta_schedule, s.beta_start, s.beta_end, s.num_train_timesteps]).toEqual([
      'scaled_linear',
      0.00085,
      0.012,
      1000,
    ]);
    expect([s.steps_offset, s.set_alpha_to_one, s.clip_sample, s.prediction_type, s.timestep_spacing]).toEqual([
      1,
      false,
      false,
      'epsilon',
      'leading',
    ]);
  });

  test('describes itself in pseudoword.json as family tiny, 64 px, 4 latent channels, ×8', () => {
    const p = pseudowordModelJson.parse(json('pseudoword.json'));
    expect(p).toMatchObject({ family: 'tiny', resolution: 64, latentChannels: 4, vaeScale: 8, scalingFactor: 3.5 });
    expect(p.previewFactors).toHaveLength(4);
    expect(json('pseudoword.json').previewFactorsFitted).toBe(false);
  });

  test('sizes the token table to the tokenizer, whose BOS and EOS are its last two ids', () => {
    const vocab = json('tokenizer/vocab.json') as Record<string, number>;
    const n = Object.keys(vocab).length;
    const table = decodeModel(files['text_encoder/model.onnx']).graph.initializers.find(
      (t) => t.name === 'text_model.embeddings.token_embedding.weight',
    )!;
    expect(table.dims).toEqual([n, 64]);
    expect([vocab['<|startoftext|>'], vocab['<|endoftext|>']]).toEqual([n - 2, n - 1]);
    expect(json('text_encoder/config.json')).toMatchObject({ vocab_size: n, hidden_size: 64, eos_token_id: n - 1 });
    // Every template word is one token, so "a photo of a {}" prompts are short.
    for (const w of ['photo</w>', 'painting</w>', 'style</w>', 'toy</w>', 'sculpture</w>'])
      expect(vocab[w]).toBeGreaterThan(511);
  });

  test("initialises embeddings with std 0.02, norms with ones, and linear weights within PyTorch's ±1/√fan_in", () => {
    const inits = decodeModel(files['text_encoder/model.onnx']).graph.initializers;
    const values = (name: string) => readTensorProto(inits.find((t) => t.name === name)!).data as Float32Array;
    const emb = values('text_model.embeddings.token_embedding.weight');
    const sd = Math.sqrt(emb.reduce((a, v) => a + v * v, 0) / emb.length);
    expect(sd).toBeCloseTo(0.02, 3);
    expect(Array.from(values('text_model.final_layer_norm.weight')).every((v) => v === 1)).toBe(true);
    const fc1 = values('text_model.encoder.layers.0.mlp.fc1.weight');
    expect(Math.max(...fc1.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(64));
    expect(Math.max(...fc1.map(Math.abs))).toBeGreaterThan(0.9 / Math.sqrt(64));
  });

  test('gives byte-identical files for the same seed, and different weights but the same text files for another', () => {
    const again = buildTinyModel({ seed: 0 });
    for (const [name, bytes] of Object.entries(files)) expect(again[name]).toEqual(bytes);
    const other = buildTinyModel({ seed: 1 });
    for (const name of [
      'unet/model.onnx_data',
      'text_encoder/model.onnx',
      'vae_encoder/model.onnx',
      'vae_decoder/model.onnx',
    ])
      expect(other[name]).not.toEqual(files[name]);
    for (const name of [
      'tokenizer/vocab.json',
      'tokenizer/merges.txt',
      'scheduler/scheduler_config.json',
      'model_index.json',
    ])
      expect(other[name]).toEqual(files[name]);
  });

  test('builds the same bytes as when tinyModelVersion was last set (bump it, and this digest, when they change)', async () => {
    const enc = new TextEncoder();
    const parts = Object.keys(files)
      .sort()
      .flatMap((k) => [enc.encode(k), files[k]]);
    const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', all)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
    expect({ version: tinyModelVersion, digest }).toEqual({
      version: '1',
      digest: 'fbb4bdf3a87310d003a205a2657b74faaf492213876c4166821c05cbe9b67038',
    });
  });

  test('refuses an opset the layers cannot write, with a bad_request error naming it', () => {
    expect(() => buildTinyModel({ opset: 18 })).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringContaining('not 18') }),
    );
  });

  test('writes each model with the ops real SD exports use', () => {
    for (const op of ['Gather', 'Trilu', 'Softmax', 'LayerNormalization', 'Sigmoid', 'ArgMax', 'GatherND'])
      expect(ops('text_encoder/model.onnx').has(op)).toBe(true);
    for (const op of ['Conv', 'InstanceNormalization', 'Pad', 'Softmax'])
      expect(ops('vae_encoder/model.onnx').has(op)).toBe(true);
    for (const op of ['Conv', 'InstanceNormalization', 'Resize', 'Softmax'])
      expect(ops('vae_decoder/model.onnx').has(op)).toBe(true);
    for (const name of Object.keys(files).filter((n) => n.endsWith('.onnx'))) {
      expect(ops(name).has('ConvTranspose')).toBe(false);
      expect(opCensus(decodeModel(files[name])).every((o) => o.domain === 'ai.onnx')).toBe(true);
    }
  });

  test("opens with the project's model-folder loader as a 64 px tiny model of text width 64", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pseudoword-tiny-folder-'));
    tmp.push(dir);
    writeFiles(dir, files);
    const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);
    expect(model.info).toMatchObject({
      family: 'tiny',
      resolution: 64,
      latentChannels: 4,
      vaeScale: 8,
      hiddenSize: 64,
      scalingFactor: 3.5,
    });
    expect(model.tokenizer.tokenize('a photo of a toy').ids.slice(0, 7)).toEqual([
      model.tokenizer.bosId,
      ...model.tokenizer.encode('a photo of a toy'),
      model.tokenizer.eosId,
    ]);
    expect(model.tokenizer.encode('a photo of a toy')).toHaveLength(5);
    await model.release();
  });
});
