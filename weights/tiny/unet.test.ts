import { describe, expect, test } from 'bun:test';
import { decodeModel } from '../onnx/proto.ts';
import { opCensus } from '../onnx/op-census.ts';
import { collectExternal } from './params.ts';
import { buildUnet } from './unet.ts';
import { sd15UnetConfig, sdxlUnetConfig, tinyUnetConfig, unetConfigJson } from './unet-config.ts';
import { buildTextEncoder } from './text-encoder.ts';
import { buildVaeDecoder, buildVaeEncoder } from './vae.ts';

const ops = (bytes: Uint8Array) => new Set(opCensus(decodeModel(bytes)).map((o) => o.opType));

describe('the SD layer builders', () => {
  test('build an SD1.5-size UNet with exactly the 859,520,964 parameters of runwayml/stable-diffusion-v1-5', () => {
    // Only the graph is built: the 3.4 GB of external data is generated on demand, never here.
    const unet = buildUnet(sd15UnetConfig);
    expect(unet.parameters).toBe(859_520_964);
    // Everything but biases and norm gains under 1 KiB lives in model.onnx_data.
    expect(unet.external!.byteLength).toBeGreaterThan(0.999 * 4 * unet.parameters);
  });

  test("build SDXL base's UNet (2,567,463,684 parameters) and its encoders, CLIP-L (123,060,480) and bigG with projection (694,659,840)", () => {
    // Per-level transformer depths [1, 2, 10], no attention at the first level, linear projections, the text_time
    // added embedding: the count matches stabilityai/stable-diffusion-xl-base-1.0's only if every part is there.
    expect(buildUnet(sdxlUnetConfig).parameters).toBe(2_567_463_684);
    const text = { vocabSize: 49408, maxPositions: 77, eps: 1e-5, hiddenStates: true };
    const ext = { externalData: 'model.onnx_data' } as const;
    const l = { ...text, hiddenSize: 768, layers: 12, heads: 12, intermediateSize: 3072 };
    const g = { ...text, hiddenSize: 1280, layers: 32, heads: 20, intermediateSize: 5120, hiddenAct: 'gelu' as const };
    expect(buildTextEncoder(l, ext).parameters).toBe(123_060_480);
    expect(buildTextEncoder({ ...g, projectionDim: 1280 }, ext).parameters).toBe(694_659_840);
  });

  test("build SD1.x's VAE (83,653,863 parameters) and CLIP ViT-L/14 text encoder (123,060,480) from their configs", () => {
    const sdVae = {
      inChannels: 3,
      outChannels: 3,
      latentChannels: 4,
      blockOutChannels: [128, 256, 512, 512],
      layersPerBlock: 2,
      normGroups: 32,
      scalingFactor: 0.18215,
    };
    const ext = { externalData: 'model.onnx_data' };
    expect(buildVaeEncoder(sdVae, ext).parameters + buildVaeDecoder(sdVae, ext).parameters).toBe(83_653_863);
    const clipL = {
      vocabSize: 49408,
      hiddenSize: 768,
      layers: 12,
      heads: 12,
      intermediateSize: 3072,
      maxPositions: 77,
      eps: 1e-5,
    };
    expect(buildTextEncoder(clipL, ext).parameters).toBe(123_060_480);
  });

  test('write the tiny UNet with the ops torch.onnx emits for SD, and no ConvTranspose', () => {
    const census = ops(buildUnet(tinyUnetConfig).model);
    for (const op of [
      'InstanceNormalization',
      'Resize',
      'Erf',
      'Softmax',
      'Conv',
      'Gemm',
      'MatMul',
      'Split',
      'Sigmoid',
      'Concat',
      'Sin',
      'Cos',
      'LayerNormalization',
    ])
      expect(census.has(op)).toBe(true);
    expect(census.has('ConvTranspose')).toBe(false);
    const at14 = ops(buildUnet(tinyUnetConfig, { opset: 14 }).model);
    expect(at14.has('LayerNormalization')).toBe(false);
    for (const op of ['ReduceMean', 'Pow', 'Sqrt', 'Div']) expect(at14.has(op)).toBe(true);
  });

  test('store UNet weights of 1 KiB and more as external data that tiles model.onnx_data in order', () => {
    const unet = buildUnet(tinyUnetConfig);
    const model = decodeModel(unet.model);
    const external = model.graph.initializers.filter((t) => t.external);
    let next = 0;
    for (const t of external) {
      const kv = Object.fromEntries(t.external!.map((e) => [e.key, e.value]));
      expect(kv.location).toBe('model.onnx_data');
      expect(Number(kv.offset)).toBe(next);
      expect(Number(kv.length)).toBe(t.dims.reduce((a, b) => a * b, 1) * 4);
      expect(Number(kv.length)).toBeGreaterThanOrEqual(1024);
      next += Number(kv.length);
    }
    expect(next).toBe(unet.external!.byteLength);
  });

  test('generate external data chunk by chunk with the same bytes whatever the chunk size', () => {
    const data = buildUnet(tinyUnetConfig, { seed: 3 }).external!;
    const whole = collectExternal(data);
    const pieces = [...data.chunks(4000)];
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(4000);
    const joined = new Uint8Array(whole.length);
    let at = 0;
    for (const p of pieces) {
      joined.set(p, at);
      at += p.length;
    }
    expect(joined).toEqual(whole);
  });

  test('add pixel coordinates only when the config asks, with 2 weights per first-level channel, and say so in config.json', () => {
    const plain = buildUnet(tinyUnetConfig);
    const placed = buildUnet({ ...tinyUnetConfig, coordinates: true });
    expect(placed.parameters - plain.parameters).toBe(2 * tinyUnetConfig.blockOutChannels[0]);
    expect(ops(plain.model).has('Expand')).toBe(false);
    expect(ops(placed.model).has('Expand')).toBe(true);
    expect('pseudoword_coordinates' in unetConfigJson(tinyUnetConfig, 16)).toBe(false);
    expect(unetConfigJson({ ...tinyUnetConfig, coordinates: true }, 16).pseudoword_coordinates).toBe(true);
  });
});
