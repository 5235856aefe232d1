import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { adamwInit, adamwStep } from '../../common/train/adamw.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { encodeModel, decodeModel, type Model } from '../../weights/onnx/proto.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { buildTextEncoder, type TextEncoderConfig } from '../../weights/tiny/text-encoder.ts';
import { buildUnet } from '../../weights/tiny/unet.ts';
import type { UnetConfig } from '../../weights/tiny/unet-config.ts';
import { buildVaeDecoder, buildVaeEncoder, type VaeConfig } from '../../weights/tiny/vae.ts';
import { buildDiffusionLossGraph, diffusionLossIO } from './diffusion-loss-graph.ts';
import { fitPreview } from './fit-preview.ts';
import { initialWeights } from './model-weights.ts';
import { ParamSet } from './param-set.ts';
import { buildVaeLossGraph, vaeLossIO, type LossGraph } from './vae-loss-graph.ts';
import { pixelWeights } from './vae-phase.ts';
import { worldItems, worldRoot } from './world-data.ts';
import { colourRgb, worldSampleAt } from '../world/index.ts';

// Micro versions of the shipped components: same structure, a few channels, 16-px images (2×2 latents).
const vaeConfig: VaeConfig = {
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [4, 4, 8, 8],
  layersPerBlock: 1,
  normGroups: 2,
  scalingFactor: 1,
};
const textConfig: TextEncoderConfig = {
  vocabSize: 20,
  hiddenSize: 8,
  layers: 1,
  heads: 2,
  intermediateSize: 16,
  maxPositions: 6,
  eps: 1e-5,
};
const unetConfig: UnetConfig = {
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [8, 8],
  layersPerBlock: 1,
  crossAttention: [true, true],
  heads: 2,
  crossAttentionDim: 8,
  normGroups: 2,
  normEps: 1e-5,
  useLinearProjection: false,
  transformerLayers: 1,
  coordinates: true,
};
const inline = { seed: 3, externalData: false as const };
const decode = (m: { model: Uint8Array }): Model => decodeModel(m.model);
const B = 2;
const normals = (seed: number, n: number) => createRng(seed).fillNormal(new Float32Array(n));

const vaeGraph = buildVaeLossGraph(
  decode(buildVaeEncoder(vaeConfig, inline)),
  decode(buildVaeDecoder(vaeConfig, inline)),
  { batch: B, resolution: 16, latentChannels: 4, beta: 0.1 },
);
const vaeComponents = {
  vae_encoder: { model: decode(buildVaeEncoder(vaeConfig, inline)) },
  vae_decoder: { model: decode(buildVaeDecoder(vaeConfig, inline)) },
};
const vaeBatch: Record<string, Tensor> = {
  [vaeLossIO.images]: tensor(
    'float32',
    [B, 3, 16, 16],
    normals(1, B * 3 * 256).map((x) => Math.tanh(x)),
  ),
  [vaeLossIO.noise]: tensor('float32', [B, 4, 2, 2], normals(2, B * 16)),
};

const diffGraph = buildDiffusionLossGraph(
  decode(buildTextEncoder(textConfig, inline)),
  decode(buildUnet(unetConfig, inline)),
  { batch: B, sequence: 6, latent: [4, 2, 2] },
);
const diffComponents = {
  text_encoder: { model: decode(buildTextEncoder(textConfig, inline)) },
  unet: { model: decode(buildUnet(unetConfig, inline)) },
};
const diffBatch: Record<string, Tensor> = {
  [diffusionLossIO.ids]: tensor('int32', [B, 6], Int32Array.of(18, 3, 7, 19, 19, 19, 18, 5, 19, 19, 19, 19)),
  [diffusionLossIO.latents]: tensor('float32', [B, 4, 2, 2], normals(3, B * 16)),
  [diffusionLossIO.timestep]: tensor('float32', [B], Float32Array.of(900, 40)),
  [diffusionLossIO.target]: tensor('float32', [B, 4, 2, 2], normals(4, B * 16)),
};

const open = (g: LossGraph) => ortSessionFactory.create(encodeModel(g.model), { optimization: 'disabled' });

/** Central differences of the loss in a few coordinates of a few weights, against the graph's gradients. */
const checkGradients = async (
  g: LossGraph,
  components: Record<string, { model: Model }>,
  batch: Record<string, Tensor>,
  picks: string[],
) => {
  const session = await open(g);
  const params = new ParamSet(initialWeights(g, components));
  const out = await session.run({ ...params.feeds(), ...batch });
  const loss = async () =>
    ((await session.run({ ...params.feeds(), ...batch }, ['loss'])).loss.data as Float32Array)[0];
  let checked = 0;
  for (const name of picks) {
    const grad = out[`${name}_grad`].data as Float32Array;
    // The coordinate with the largest gradient: its difference quotient stands well above float32 rounding.
    const k = grad.reduce((best, g, i) => (Math.abs(g) > Math.abs(grad[best]) ? i : best), 0);
    const w = params.value(name);
    // Small steps: the token and position tables are ~0.02 in scale, and LayerNorm is steep around them.
    const eps = 1e-3;
    const w0 = w[k];
    w[k] = w0 + eps;
    const plus = await loss();
    w[k] = w0 - eps;
    const minus = await loss();
    w[k] = w0;
    const fd = (plus - minus) / (2 * eps);
    expect(Math.abs(fd - grad[k])).toBeLessThan(0.03 * Math.abs(grad[k]) + 2e-4);
    checked++;
  }
  return checked;
};

/** The loss on one fixed batch before and after a few steps of the same AdamW the trainer uses. */
const lossAfterSteps = async (
  g: LossGraph,
  components: Record<string, { model: Model }>,
  batch: Record<string, Tensor>,
  steps: number,
) => {
  const session = await open(g);
  const params = new ParamSet(initialWeights(g, components));
  const losses: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const out = await session.run({ ...params.feeds(), ...batch });
    losses.push((out.loss.data as Float32Array)[0]);
    if (s < steps) params.step((n) => out[`${n}_grad`].data as Float32Array, 1e-3);
  }
  return losses;
};

describe('the VAE pretraining graph', () => {
  test('returns the loss and one gradient per weight of both halves in one run', async () => {
    expect(vaeGraph.weights.size).toBeGreaterThan(50);
    const outs = vaeGraph.model.graph.outputs.map((o) => o.name);
    for (const w of vaeGraph.weights.keys()) expect(outs).toContain(`${w}_grad`);
  });

  test('gives weight gradients equal to central differences of the loss', async () => {
    const picks = [
      'vae_encoder/encoder.conv_in.weight',
      'vae_encoder/quant_conv.bias',
      'vae_decoder/decoder.mid_block.attentions.0.to_q.weight',
      'vae_decoder/decoder.conv_out.weight',
    ];
    expect(await checkGradients(vaeGraph, vaeComponents, vaeBatch, picks)).toBe(4);
  });

  test('lowers the loss on a fixed batch in a few optimizer steps', async () => {
    const losses = await lossAfterSteps(vaeGraph, vaeComponents, vaeBatch, 3);
    expect(losses[3]).toBeLessThan(losses[0]);
  });

  test('trains the decoder alone when asked, with the same decoder gradients', async () => {
    const g = buildVaeLossGraph(vaeComponents.vae_encoder.model, vaeComponents.vae_decoder.model, {
      batch: B,
      resolution: 16,
      latentChannels: 4,
      beta: 0.1,
      decoderOnly: true,
    });
    expect([...g.weights.keys()].every((w) => w.startsWith('vae_decoder/'))).toBe(true);
    expect(g.model.graph.inputs.some((i) => i.name.startsWith('vae_encoder/'))).toBe(false);
    const name = 'vae_decoder/decoder.conv_out.weight';
    const run = async (lg: LossGraph) => {
      const params = new ParamSet(initialWeights(lg, vaeComponents));
      return (await (await open(lg)).run({ ...params.feeds(), ...vaeBatch }))[`${name}_grad`].data as Float32Array;
    };
    const [alone, joint] = [await run(g), await run(vaeGraph)];
    for (let i = 0; i < alone.length; i += 17) expect(alone[i]).toBeCloseTo(joint[i], 5);
  });
});

describe('the object-weighted reconstruction', () => {
  test('is the per-pixel weighted mean squared error the weights describe', async () => {
    const g = buildVaeLossGraph(vaeComponents.vae_encoder.model, vaeComponents.vae_decoder.model, {
      batch: B,
      resolution: 16,
      latentChannels: 4,
      beta: 0.1,
      weighted: true,
      forwardOnly: true,
    });
    const weight = pixelWeights(
      Float32Array.from({ length: B * 256 }, (_, i) => (i % 16 < 5 ? 1 : 0)),
      4,
    );
    const out = await (await open(g)).run({
      ...vaeBatch,
      [vaeLossIO.weight]: tensor('float32', [B, 1, 16, 16], weight),
    });
    const [x, y] = [vaeBatch[vaeLossIO.images].data as Float32Array, out[vaeLossIO.recon].data as Float32Array];
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += weight[Math.floor(i / 768) * 256 + (i % 256)] * (y[i] - x[i]) ** 2;
    expect((out[vaeLossIO.rec].data as Float32Array)[0]).toBeCloseTo(sum / x.length, 5);
  });

  test('weights keep mean 1 and put 1 + λ on the object against 1 elsewhere', () => {
    const w = pixelWeights(Float32Array.of(1, 0, 0, 0), 3);
    expect(w.reduce((a, v) => a + v, 0) / 4).toBeCloseTo(1, 6);
    expect(w[0] / w[1]).toBeCloseTo(4, 6);
  });

  test("covers the world's object and little else", () => {
    const { pixels, objectMask } = worldItems(0, 0, 8, 64);
    for (let i = 0; i < 8; i++) {
      const m = objectMask.subarray(i * 4096, (i + 1) * 4096);
      const area = m.reduce((a, v) => a + v, 0);
      // Disks of radius √2·9+1 or √2·16+1 px: 13.7² π ≈ 590 or 23.6² π ≈ 1750 pixels.
      expect(area).toBeGreaterThan(500);
      expect(area).toBeLessThan(1900);
      // Every pixel in the object's own colour lies on the disk (the background never has that colour).
      const rgb = colourRgb[worldSampleAt(worldRoot(0), i, { resolution: 64 }).scene.colour].map((v) => v / 127.5 - 1);
      let own = 0;
      for (let p = 0; p < 4096; p++) {
        if (rgb.every((v, c) => Math.abs(pixels[(i * 3 + c) * 4096 + p] - v) < 1e-6)) own++, expect(m[p]).toBe(1);
      }
      expect(own).toBeGreaterThan(20);
    }
  });
});

describe('the text encoder + UNet pretraining graph', () => {
  test('gives weight gradients equal to central differences of the loss, the token table included', async () => {
    const picks = [
      'text_encoder/text_model.embeddings.token_embedding.weight',
      'text_encoder/text_model.encoder.layers.0.mlp.fc1.weight',
      'unet/conv_in.weight',
      'unet/pos_in.weight',
      'unet/down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight',
      'unet/conv_out.bias',
    ];
    expect(await checkGradients(diffGraph, diffComponents, diffBatch, picks)).toBe(6);
  });

  test('gives no gradient to token rows the batch does not use', async () => {
    const session = await open(diffGraph);
    const params = new ParamSet(initialWeights(diffGraph, diffComponents));
    const grad = (await session.run({ ...params.feeds(), ...diffBatch }))[
      'text_encoder/text_model.embeddings.token_embedding.weight_grad'
    ].data as Float32Array;
    const rowNorm = (r: number) => grad.subarray(r * 8, r * 8 + 8).reduce((a, g) => a + Math.abs(g), 0);
    expect(rowNorm(0)).toBe(0);
    expect(rowNorm(3)).toBeGreaterThan(0);
  });

  test('lowers the loss on a fixed batch in a few optimizer steps', async () => {
    const losses = await lossAfterSteps(diffGraph, diffComponents, diffBatch, 3);
    expect(losses[3]).toBeLessThan(losses[0]);
  });
});

describe('ParamSet', () => {
  test('takes the same AdamW step as the textual-inversion optimizer when nothing is clipped', () => {
    const value = Float32Array.of(0.5, -1, 2, 0.25);
    const grad = Float32Array.of(0.1, -0.2, 0.05, 0);
    const ps = new ParamSet([{ name: 'w', dims: [2, 2], value }]);
    const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 0 };
    let state = adamwInit(4);
    const ref = Float32Array.from(value);
    for (let s = 0; s < 3; s++) {
      ps.step(() => grad, 1e-2, o);
      state = adamwStep(ref, grad, state, 1e-2, o);
    }
    for (let i = 0; i < 4; i++) expect(ps.value('w')[i]).toBeCloseTo(ref[i], 6);
  });

  test('clips the global gradient norm and restores what it serialised', () => {
    const ps = new ParamSet([
      { name: 'a', dims: [2], value: Float32Array.of(0, 0) },
      { name: 'b', dims: [1, 1], value: Float32Array.of(1) },
    ]);
    const norm = ps.step((n) => (n === 'a' ? Float32Array.of(3, 0) : Float32Array.of(4)), 0.1, {
      beta1: 0,
      beta2: 0,
      eps: 1e-12,
      weightDecay: 0,
      clipNorm: 1,
    });
    expect(norm).toBeCloseTo(5, 6);
    // β = 0: the step is lr·sign(g) whatever the clip scale, so the clipped values are exact.
    expect([...ps.value('a')]).toEqual([expect.closeTo(-0.1, 6), 0]);
    const copy = new ParamSet([
      { name: 'a', dims: [2], value: new Float32Array(2) },
      { name: 'b', dims: [1, 1], value: new Float32Array(1) },
    ]);
    copy.restore(ps.serialize());
    expect(copy.steps).toBe(1);
    expect([...copy.value('b')]).toEqual([...ps.value('b')]);
  });

  test('refuses a checkpoint of other parameters', () => {
    const ps = new ParamSet([{ name: 'a', dims: [2], value: new Float32Array(2) }]);
    const other = new ParamSet([{ name: 'a', dims: [3], value: new Float32Array(3) }]);
    expect(() => other.restore(ps.serialize())).toThrow(/other parameters/);
  });
});

describe('fitPreview', () => {
  test('recovers a linear latent → colour map from latents and the images it made', () => {
    const factors = [
      [0.5, -0.2, 0.1],
      [0, 0.3, -0.4],
      [0.2, 0.2, 0.2],
      [-0.1, 0, 0.6],
    ];
    const bias = [0.05, -0.1, 0.2];
    const n = 8;
    const latents = normals(9, n * 4 * 2 * 2);
    const pixels = new Float32Array(n * 3 * 16 * 16);
    // Latents [n, 4, 2, 2] → 16-px images: each 8×8 block holds the mapped colour plus a zero-mean ±0.1 checker
    // that pooling removes.
    for (let b = 0; b < n; b++)
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 16; y++)
          for (let x = 0; x < 16; x++) {
            let v = bias[c];
            for (let ch = 0; ch < 4; ch++) v += latents[((b * 4 + ch) * 2 + (y >> 3)) * 2 + (x >> 3)] * factors[ch][c];
            pixels[((b * 3 + c) * 16 + y) * 16 + x] = v + ((x + y) % 2 ? 0.1 : -0.1);
          }
    const fit = fitPreview(latents, pixels, n, 4, 2, 8);
    for (let ch = 0; ch < 4; ch++)
      for (let c = 0; c < 3; c++) expect(fit.factors[ch][c]).toBeCloseTo(factors[ch][c], 4);
    for (let c = 0; c < 3; c++) expect(fit.bias[c]).toBeCloseTo(bias[c], 4);
    expect(fit.r2).toBeCloseTo(1, 6);
  });
});
