import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { injectVectors, vectorsInput } from './embeddings/inject-vectors.ts';
import type { SdxlInfo } from './model-info.ts';
import { decodeModel, encodeModel } from './onnx/proto.ts';
import { readTensorProto } from './onnx/tensor-proto.ts';
import { runSdxlTextEncoders } from './sdxl-text-io.ts';
import { buildTextEncoder, type TextEncoderConfig } from './tiny/text-encoder.ts';
import { tinyXlTextEncoder1, tinyXlTextEncoder2 } from './tiny/build-tiny-xl-model.ts';

const V = 40;
const EOS = V - 1;
const BOS = V - 2;
const encoder = (c: TextEncoderConfig, seed: number) => {
  const model = decodeModel(buildTextEncoder(c, { seed }).model);
  const weight = (name: string) =>
    readTensorProto(model.graph.initializers.find((t) => t.name === name)!).data as Float32Array;
  return { model, weight };
};
const ids = (rows: number[][]) => tensor('int32', [rows.length, rows[0].length], Int32Array.from(rows.flat()));
const f32 = (t: Tensor) => t.data as Float32Array;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
/** Row `pos` of a [1, T, D] tensor. */
const rowAt = (t: Float32Array, pos: number, d: number) => t.subarray(pos * d, (pos + 1) * d);
/** x · W for x [D] and W [D, P] (row-major), by hand. */
const project = (x: Float32Array, w: Float32Array, p: number) =>
  Float32Array.from({ length: p }, (_, j) => x.reduce((s, v, i) => s + v * w[i * p + j], 0));

const two = tinyXlTextEncoder2(V);
const prompt = [BOS, 5, 9, 3, 7, EOS, EOS, EOS];

describe('the SDXL text encoders tiny-xl is built from', () => {
  test('number hidden states as transformers does: 0 is the embeddings, N is the last layer before its LayerNorm', async () => {
    const { model, weight } = encoder(two, 3);
    const out = await (await ortSessionFactory.create(encodeModel(model))).run({ input_ids: ids([prompt]) });
    const d = two.hiddenSize;
    // hidden_states.0 = token_embedding[id] + position_embedding[position], computed here.
    const tok = weight('text_model.embeddings.token_embedding.weight');
    const pos = weight('text_model.embeddings.position_embedding.weight');
    const embeddings = Float32Array.from({ length: prompt.length * d }, (_, k) => {
      const [t, i] = [Math.floor(k / d), k % d];
      return tok[prompt[t] * d + i] + pos[t * d + i];
    });
    expect(maxDiff(f32(out['hidden_states.0']), embeddings)).toBeLessThan(1e-6);
    // last_hidden_state = final_layer_norm(hidden_states.3) (gamma 1, beta 0, eps 1e-5), computed here.
    const h = f32(out['hidden_states.3']);
    const normed = new Float32Array(h.length);
    for (let t = 0; t < prompt.length; t++) {
      const x = rowAt(h, t, d);
      const mean = x.reduce((a, v) => a + v, 0) / d;
      const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
      x.forEach((v, i) => {
        normed[t * d + i] = (v - mean) / Math.sqrt(variance + 1e-5);
      });
    }
    expect(maxDiff(f32(out.last_hidden_state), normed)).toBeLessThan(1e-4);
  });

  test("projects the token at argmax(ids) into text_embeds under SDXL's legacy eos id 2 — an added token's, if one is there", async () => {
    const { model, weight } = encoder(two, 3);
    const injected = injectVectors(model);
    const s = await ortSessionFactory.create(encodeModel(injected.model));
    const vectors = tensor(
      'float32',
      [1, two.hiddenSize],
      Float32Array.from({ length: two.hiddenSize }, (_, i) => Math.cos(i)),
    );
    const run = async (row: number[]) => s.run({ input_ids: ids([row]), [vectorsInput]: vectors });
    const w = weight('text_projection.weight');
    const d = two.hiddenSize;
    const plain = await run(prompt);
    const atEos = project(rowAt(f32(plain.last_hidden_state), 5, d), w, 48);
    expect(maxDiff(f32(plain.text_embeds), atEos)).toBeLessThan(1e-5);
    // The added token (id V, above EOS) is where transformers' legacy rule pools: position 2 here.
    const withNew = [BOS, 5, V, 3, 7, EOS, EOS, EOS];
    const added = await run(withNew);
    const atNew = project(rowAt(f32(added.last_hidden_state), 2, d), w, 48);
    expect(maxDiff(f32(added.text_embeds), atNew)).toBeLessThan(1e-5);
  });

  test('pools at the first EOS under a real eos id, whatever larger ids the prompt holds', async () => {
    const { model, weight } = encoder({ ...two, pooling: { firstEos: EOS } }, 3);
    const injected = injectVectors(model);
    const s = await ortSessionFactory.create(encodeModel(injected.model));
    const vectors = tensor('float32', [1, two.hiddenSize], new Float32Array(two.hiddenSize).fill(0.5));
    const out = await s.run({ input_ids: ids([[BOS, 5, V, 3, 7, EOS, EOS, EOS]]), [vectorsInput]: vectors });
    const expected = project(
      rowAt(f32(out.last_hidden_state), 5, two.hiddenSize),
      weight('text_projection.weight'),
      48,
    );
    expect(maxDiff(f32(out.text_embeds), expected)).toBeLessThan(1e-5);
  });

  test("joins encoder 1's and encoder 2's penultimate hidden states and keeps encoder 2's text_embeds", async () => {
    const one = tinyXlTextEncoder1(V);
    const e1 = await ortSessionFactory.create(encodeModel(encoder(one, 1).model));
    const e2 = await ortSessionFactory.create(encodeModel(encoder(two, 2).model));
    const info: SdxlInfo = {
      textWidths: [32, 64],
      textLayers: [2, 3],
      contextOutputs: ['hidden_states.1', 'hidden_states.2'],
      pooledWidth: 48,
      pooledOutput: 'text_embeds',
      timeEmbedDim: 8,
      forceZerosForEmptyPrompt: true,
      pooling: 'argmax',
    };
    const pad2 = [BOS, 11, EOS, 0, 0, 0, 0, 0]; // tokenizer_2 pads with '!' (id 0)
    const [a, b] = await runSdxlTextEncoders(
      [e1, e2],
      info,
      [prompt, [BOS, 11, EOS, EOS, EOS, EOS, EOS, EOS]],
      [prompt, pad2],
    );
    const o1 = await e1.run({ input_ids: ids([prompt]) });
    const o2 = await e2.run({ input_ids: ids([prompt]) });
    expect(a.context.dims).toEqual([1, 8, 96]);
    for (let t = 0; t < 8; t++) {
      expect(Array.from(a.context.data.subarray(t * 96, t * 96 + 32))).toEqual(
        Array.from(rowAt(f32(o1['hidden_states.1']), t, 32)),
      );
      expect(Array.from(a.context.data.subarray(t * 96 + 32, (t + 1) * 96))).toEqual(
        Array.from(rowAt(f32(o2['hidden_states.2']), t, 64)),
      );
    }
    expect(Array.from(a.pooled.data)).toEqual(Array.from(f32(o2.text_embeds)));
    expect(b.pooled.dims).toEqual([1, 48]);
    expect(Array.from(b.context.data)).not.toEqual(Array.from(a.context.data));
  });
});
