import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFiles } from '../../adapters/fs.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { loadTokenizer } from '../tokenizer/load-tokenizer.ts';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { Session } from '../session.ts';
import { float32, tensor, type Tensor } from '../../common/tensor.ts';
import { buildTinyModel } from './build-tiny-model.ts';
import { tinyVaeConfig } from './vae.ts';

const dirs: Record<number, string> = {};
let tokenizer: ClipTokenizer;
const open = (opset: number, component: string) => ortSessionFactory.create(join(dirs[opset], component, 'model.onnx'));

beforeAll(async () => {
  for (const opset of [17, 14]) {
    dirs[opset] = mkdtempSync(join(tmpdir(), `pseudoword-tiny-${opset}-`));
    writeFiles(dirs[opset], buildTinyModel({ seed: 0, opset }));
  }
  const files = buildTinyModel({ seed: 0 });
  tokenizer = await loadTokenizer(async (f) =>
    files[`tokenizer/${f}`] ? new TextDecoder().decode(files[`tokenizer/${f}`]) : undefined,
  );
});
afterAll(() => Object.values(dirs).forEach((d) => rmSync(d, { recursive: true, force: true })));

const values = (t: Tensor) => Array.from(t.data as Float32Array);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const std = (a: Float32Array) => {
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
};
const wave = (dims: number[], k: number) =>
  float32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * k)),
  );
const ids = (rows: number[][]) => tensor('int32', [rows.length, rows[0].length], Int32Array.from(rows.flat()));

describe('the tiny text encoder', () => {
  let s: Session;
  beforeAll(async () => (s = await open(17, 'text_encoder')));

  test('declares int32 input_ids [batch, sequence] and runs a batch of 2 to [2,77,64] and [2,64]', async () => {
    expect(s.inputs).toEqual([{ name: 'input_ids', dtype: 'int32', shape: ['batch', 'sequence'] }]);
    expect(s.outputs.map((o) => o.name)).toEqual(['last_hidden_state', 'pooler_output']);
    const out = await s.run({
      input_ids: ids([tokenizer.tokenize('a photo of a cat').ids, tokenizer.tokenize('a red toy').ids]),
    });
    expect(out.last_hidden_state.dims).toEqual([2, 77, 64]);
    expect(out.pooler_output.dims).toEqual([2, 64]);
    // The final LayerNorm makes every position unit-scale.
    expect(std(out.last_hidden_state.data as Float32Array)).toBeCloseTo(1, 1);
  });

  test('is causal: changing a later token leaves earlier positions as they were and changes later ones', async () => {
    const a = tokenizer.tokenize('a photo of a cat').ids;
    const b = [...a];
    b[3] = tokenizer.idOf('dog</w>')!;
    expect(b[3]).not.toBe(a[3]);
    const out = (await s.run({ input_ids: ids([a, b]) })).last_hidden_state.data as Float32Array;
    const at = (row: number, pos: number) => out.slice((row * 77 + pos) * 64, (row * 77 + pos + 1) * 64);
    for (let pos = 0; pos < 3; pos++) expect(maxAbsDiff(at(0, pos), at(1, pos))).toBeLessThan(1e-6);
    for (const pos of [3, 4, 10, 76]) expect(maxAbsDiff(at(0, pos), at(1, pos))).toBeGreaterThan(1e-3);
  });

  test('pools at the first EOS (the argmax of the ids), per row', async () => {
    const rows = [
      tokenizer.tokenize('a photo of a cat').ids,
      tokenizer.tokenize('a close-up painting in the style of a big green dragon').ids,
    ];
    const out = await s.run({ input_ids: ids(rows) });
    const lhs = out.last_hidden_state.data as Float32Array;
    const pooled = out.pooler_output.data as Float32Array;
    rows.forEach((row, r) => {
      const eos = row.indexOf(tokenizer.eosId);
      expect(eos).toBe(row.indexOf(Math.max(...row)));
      expect(Array.from(pooled.slice(r * 64, (r + 1) * 64))).toEqual(
        Array.from(lhs.slice((r * 77 + eos) * 64, (r * 77 + eos + 1) * 64)),
      );
    });
  });
});

describe('the tiny UNet', () => {
  let s: Session;
  const sample = wave([2, 4, 8, 8], 0.37);
  const text = wave([2, 77, 64], 0.11);
  const run = async (t: Tensor, hidden = text, x = sample) =>
    (await s.run({ sample: x, timestep: t, encoder_hidden_states: hidden })).out_sample;
  beforeAll(async () => (s = await open(17, 'unet')));

  test('takes sample, a float32 timestep per step and encoder_hidden_states, and predicts [2,4,8,8]', async () => {
    expect(s.inputs).toEqual([
      { name: 'sample', dtype: 'float32', shape: ['batch', 4, 'height', 'width'] },
      { name: 'timestep', dtype: 'float32', shape: ['steps'] },
      { name: 'encoder_hidden_states', dtype: 'float32', shape: ['batch', 'sequence', 64] },
    ]);
    const out = await run(float32([2], [10, 900]));
    expect(out.dims).toEqual([2, 4, 8, 8]);
    expect(values(out).every(Number.isFinite)).toBe(true);
    // A random model still predicts varied output: the final conv is not zeroed.
    expect(std(out.data as Float32Array)).toBeGreaterThan(0.05);
  });

  test('depends on the timestep and the text, and broadcasts a single timestep over the batch', async () => {
    const base = values(await run(float32([2], [500, 500])));
    expect(maxAbsDiff(values(await run(float32([1], [500]))), base)).toBeLessThan(1e-6);
    expect(maxAbsDiff(values(await run(float32([2], [20, 20]))), base)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(values(await run(float32([2], [500, 500]), wave([2, 77, 64], 0.29))), base)).toBeGreaterThan(
      1e-3,
    );
  });

  test('runs other latent sizes divisible by 2 (dynamic height and width)', async () => {
    const out = await run(float32([1], [1]), wave([2, 77, 64], 0.1), wave([2, 4, 6, 4], 0.5));
    expect(out.dims).toEqual([2, 4, 6, 4]);
  });
});

describe('the tiny VAE', () => {
  test('encodes 64 px images to [2,8,8,8] mean‖logvar and decodes [2,4,8,8] latents to 64 px: ×8 both ways', async () => {
    const enc = await open(17, 'vae_encoder');
    const dec = await open(17, 'vae_decoder');
    expect(enc.inputs[0]).toEqual({ name: 'sample', dtype: 'float32', shape: ['batch', 3, 'height', 'width'] });
    expect(enc.outputs[0].name).toBe('latent_parameters');
    expect(dec.inputs[0]).toEqual({
      name: 'latent_sample',
      dtype: 'float32',
      shape: ['batch', 4, 'latent_height', 'latent_width'],
    });
    expect((await enc.run({ sample: wave([2, 3, 64, 64], 0.01) })).latent_parameters.dims).toEqual([2, 8, 8, 8]);
    expect((await dec.run({ latent_sample: wave([2, 4, 8, 8], 0.3) })).sample.dims).toEqual([2, 3, 64, 64]);
    expect((await enc.run({ sample: wave([1, 3, 48, 32], 0.01) })).latent_parameters.dims).toEqual([1, 8, 6, 4]);
    const img = (await dec.run({ latent_sample: wave([1, 4, 6, 4], 0.3) })).sample;
    expect(img.dims).toEqual([1, 3, 48, 32]);
    expect(std(img.data as Float32Array)).toBeGreaterThan(0.01);
  });
  test("scales latent means to about unit variance with the folder's scaling factor", async () => {
    const enc = await open(17, 'vae_encoder');
    const n = 2 * 3 * 64 * 64;
    const blocks = Array.from({ length: n }, (_, i) =>
      (Math.floor((i % 64) / 16) + Math.floor(i / 1024)) % 2 ? 0.8 : -0.6,
    );
    const d = (await enc.run({ sample: float32([2, 3, 64, 64], blocks) })).latent_parameters.data as Float32Array;
    const means = Float32Array.from([...d.slice(0, 256), ...d.slice(512, 768)], (v) => v * tinyVaeConfig.scalingFactor);
    expect(std(means)).toBeGreaterThan(0.6);
    expect(std(means)).toBeLessThan(1.6);
  });
});

describe('the opset-14 build', () => {
  test('runs every model and agrees with the opset-17 build (LayerNorm decomposed gives the same numbers)', async () => {
    const feeds: Record<string, Record<string, Tensor>> = {
      text_encoder: { input_ids: ids([tokenizer.tokenize('a photo of a cat').ids, tokenizer.tokenize('a dog').ids]) },
      unet: {
        sample: wave([2, 4, 8, 8], 0.37),
        timestep: float32([2], [10, 900]),
        encoder_hidden_states: wave([2, 77, 64], 0.11),
      },
      vae_encoder: { sample: wave([2, 3, 64, 64], 0.01) },
      vae_decoder: { latent_sample: wave([2, 4, 8, 8], 0.3) },
    };
    for (const [component, feed] of Object.entries(feeds)) {
      const [a, b] = [await open(17, component), await open(14, component)];
      const [oa, ob] = [await a.run(feed), await b.run(feed)];
      for (const name of Object.keys(oa)) {
        expect(ob[name].dims).toEqual(oa[name].dims);
        expect(maxAbsDiff(values(oa[name]), values(ob[name]))).toBeLessThan(1e-4);
      }
    }
  });
});
