import { describe, expect, test } from 'bun:test';
import { createRng } from '../../common/numerics/rng.ts';
import { writeSafetensors } from '../embeddings/safetensors.ts';
import { loadedLayers, readLora, writeLora } from './lora-file.ts';
import type { LoraLayerSpec, LoraWeights } from './lora-params.ts';

const layers: LoraLayerSpec[] = [
  { path: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', inFeatures: 5, outFeatures: 5 },
  { path: 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k', inFeatures: 7, outFeatures: 5 },
  { path: 'mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0', inFeatures: 5, outFeatures: 6 },
];
const rng = createRng(4);
const weights: LoraWeights = {
  shape: { rank: 2, alpha: 6 },
  layers,
  params: rng.fillNormal(new Float32Array(2 * (5 + 5) + 2 * (7 + 5) + 2 * (5 + 6))),
};
/** The update a layer adds to W (as [out, in]): scale · B·A. */
const delta = (l: { rank: number; a: Float32Array; b: Float32Array; scale: number }, n: number, m: number) =>
  Array.from({ length: m * n }, (_, k) => {
    const [o, i] = [Math.floor(k / n), k % n];
    let d = 0;
    for (let r = 0; r < l.rank; r++) d += l.b[o * l.rank + r] * l.a[r * n + i];
    return l.scale * d;
  });

describe('LoRA files', () => {
  test('kohya keys hold A as lora_down, B as lora_up and alpha; read back they are the same numbers', () => {
    const bytes = writeLora(weights, 'kohya');
    const back = readLora(bytes, layers);
    expect(back.layout).toBe('kohya');
    expect(back.layers).toEqual(loadedLayers(weights));
    expect(back.layers[2].scale).toBe(3); // alpha 6 / rank 2
  });

  test('diffusers keys fold alpha/rank into lora_B, so the layer adds the same update', () => {
    const back = readLora(writeLora(weights, 'diffusers'), layers);
    expect(back.layout).toBe('diffusers');
    const want = loadedLayers(weights);
    for (const [i, l] of layers.entries()) {
      expect(back.layers[i].scale).toBe(1);
      const got = delta(back.layers[i], l.inFeatures, l.outFeatures);
      const ref = delta(want[i], l.inFeatures, l.outFeatures);
      for (let k = 0; k < ref.length; k++) expect(got[k]).toBeCloseTo(ref[k], 5);
    }
  });

  const refused = (tensors: Record<string, { shape: number[]; data: Float32Array }>) => {
    try {
      readLora(writeSafetensors(tensors), layers, 'x.safetensors');
    } catch (e) {
      return e;
    }
    throw new Error('expected a refusal');
  };
  const q = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
  const ok = {
    [`${q}.lora_down.weight`]: { shape: [2, 5], data: new Float32Array(10) },
    [`${q}.lora_up.weight`]: { shape: [5, 2], data: new Float32Array(10) },
  };

  test('refuses a key of no layer, a text-encoder key, a wrong shape and a missing half, naming the key', () => {
    expect(
      refused({ ...ok, 'lora_unet_up_blocks_9_attn1_to_q.alpha': { shape: [], data: Float32Array.of(1) } }),
    ).toMatchObject({ code: 'bad_embedding', details: { key: 'lora_unet_up_blocks_9_attn1_to_q.alpha' } });
    expect(
      refused({ ...ok, 'lora_te_text_model_encoder_layers_0_mlp_fc1.alpha': { shape: [], data: Float32Array.of(1) } }),
    ).toMatchObject({ code: 'bad_embedding', details: { key: 'lora_te_text_model_encoder_layers_0_mlp_fc1.alpha' } });
    expect(refused({ ...ok, [`${q}.lora_up.weight`]: { shape: [6, 2], data: new Float32Array(12) } })).toMatchObject({
      code: 'bad_embedding',
      details: { key: `${q}.lora_up.weight` },
    });
    expect(refused({ [`${q}.lora_down.weight`]: ok[`${q}.lora_down.weight`] })).toMatchObject({
      code: 'bad_embedding',
      details: { key: `${q}.lora_up.weight` },
    });
    expect(refused({ ...ok, [`${q}.lora_mid.weight`]: { shape: [2, 2], data: new Float32Array(4) } })).toMatchObject({
      code: 'bad_embedding',
      details: { key: `${q}.lora_mid.weight` },
    });
  });

  test('takes alpha = rank when a kohya file has no alpha key', () => {
    expect(readLora(writeSafetensors(ok), layers).layers[0].scale).toBe(1);
  });
});
