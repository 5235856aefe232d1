/**
 * P+'s graph surgery against the graphs it rewrites: the split UNet with every layer given the same conditioning
 * is the original UNet (tiny, and a torch.onnx export), and the P+ training step's gradient matches central
 * differences of its loss.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { openGraph } from '../../adapters/graph-session.ts';
import { diskModelFiles } from '../../adapters/fs.ts';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { loadStepGraph } from '../../pipeline/train/train-setup.ts';
import { openModelFolder, type SdModel } from '../model-folder.ts';
import { decodeModel, encodeModel } from '../onnx/proto.ts';
import { trainInputs, trainOutputs } from '../training/train-graph.ts';
import { packLayers, splitCrossAttention } from './p-plus-unet.ts';

const tiny = await openModel('tiny');
const torchSd = await openModelFolder(
  diskModelFiles(join(import.meta.dir, '../../test/fixtures/torch-sd/folder')),
  ortSessionFactory,
);

/** The original UNet's output and the split one's, for the same latents and for per-layer conditionings. */
const compare = async (model: SdModel, sameEverywhere: boolean) => {
  const bytes = (await model.files.readBytes('unet/model.onnx'))!;
  const split = splitCrossAttention(decodeModel(bytes));
  const packed = packLayers(split, 'sequence');
  const source = (_init: string, loc: string) => model.files.path(`unet/${loc}`);
  const rewritten = await openGraph(packed, source);
  const original = await model.session('unet');
  const rng = createRng(5);
  const h = model.info.resolution / model.info.vaeScale;
  const D = split.dim;
  const L = split.layers.length;
  const sample = tensor('float32', [2, 4, h, h], rng.fillNormal(new Float32Array(2 * 4 * h * h)));
  const hidden = rng.fillNormal(new Float32Array(2 * 77 * D));
  const timestepInfo = original.inputs.find((i) => i.name === 'timestep')!;
  const timestep =
    timestepInfo.dtype === 'int64'
      ? tensor('int64', [2], BigInt64Array.of(500n, 120n))
      : tensor('float32', [2], Float32Array.of(500, 120));
  // Packed [B, L·77, D]: sample b's conditioning repeated per layer (or, when not the same, scaled differently per layer and away from the original).
  const packedHidden = new Float32Array(2 * L * 77 * D);
  for (let b = 0; b < 2; b++)
    for (let l = 0; l < L; l++)
      for (let i = 0; i < 77 * D; i++)
        packedHidden[(b * L + l) * 77 * D + i] = hidden[b * 77 * D + i] * (sameEverywhere ? 1 : 2 + l);
  const run = async (s: typeof original, e: Tensor) =>
    (await s.run({ sample, timestep, encoder_hidden_states: e })).out_sample?.data ??
    Object.values(await s.run({ sample, timestep, encoder_hidden_states: e }))[0].data;
  const a = (await run(original, tensor('float32', [2, 77, D], hidden))) as Float32Array;
  const b = (await run(rewritten, tensor('float32', [2, L * 77, D], packedHidden))) as Float32Array;
  await rewritten.release();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++)
    (diff = Math.max(diff, Math.abs(a[i] - b[i]))), (scale = Math.max(scale, Math.abs(a[i])));
  return { diff, scale, layers: split.layers, bytes: encodeModel(packed).byteLength };
};

describe("P+'s UNet surgery", () => {
  test('finds the cross-attention layers of tiny (7) and of a torch.onnx export (1), K and V sharing one input', async () => {
    const t = splitCrossAttention(decodeModel((await tiny.files.readBytes('unet/model.onnx'))!));
    expect(t.layers).toHaveLength(7);
    expect(t.layers[0]).toBe('down_blocks.0.attentions.0.transformer_blocks.0.attn2');
    expect(t.model.graph.inputs.map((i) => i.name)).not.toContain('encoder_hidden_states');
    const k = splitCrossAttention(decodeModel((await torchSd.files.readBytes('unet/model.onnx'))!));
    expect(k.layers).toEqual(['/attn2']);
  });

  for (const [name, model] of [
    ['tiny', tiny],
    ['the torch.onnx export', torchSd],
  ] as const)
    test(`the rewritten ${name} UNet with one conditioning for every layer is the original, within float noise`, async () => {
      const same = await compare(model, true);
      expect(same.diff).toBeLessThan(1e-5 * Math.max(1, same.scale));
      // …and each layer does read its own input: different conditionings per layer change the output.
      const different = await compare(model, false);
      expect(different.diff).toBeGreaterThan(1e-3 * same.scale);
    });
});

describe('the P+ training step', () => {
  test('gives a gradient for every layer equal to central differences of the loss', async () => {
    const h = tiny.info.resolution / tiny.info.vaeScale;
    const {
      graph,
      layers,
      tableRows: V,
      dim,
    } = await loadStepGraph(tiny, [4, h, h], {
      choice: { use: 'p-plus' },
      vectors: 1,
    });
    const L = layers!.length;
    const session = await openGraph(graph, (init, loc) =>
      tiny.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
    );
    const tok = tiny.tokenizer;
    const row = [tok.bosId, ...tok.encode('a photo of a'), V, tok.eosId];
    const ids = Int32Array.from([...row, ...new Array(77 - row.length).fill(tok.padId)]);
    const n = 4 * h * h;
    const rng = createRng(11);
    const feeds = (vectors: Float32Array): Record<string, Tensor> => ({
      [trainInputs.ids]: tensor('int32', [1, 77], ids),
      [trainInputs.vectors]: tensor('float32', [L, dim], vectors),
      [trainInputs.latents]: tensor('float32', [1, 4, h, h], createRng(1).fillNormal(new Float32Array(n))),
      [trainInputs.timestep]: tensor('float32', [1], Float32Array.of(400)),
      [trainInputs.target]: tensor('float32', [1, 4, h, h], createRng(2).fillNormal(new Float32Array(n))),
      [trainInputs.weights]: tensor('float32', [1], Float32Array.of(1)),
    });
    const vectors = Float32Array.from({ length: L * dim }, () => rng.normal() * 0.1);
    const grad = (await session.run(feeds(vectors)))[trainOutputs.grad].data as Float32Array;
    const loss = async (v: Float32Array) => ((await session.run(feeds(v)))[trainOutputs.loss].data as Float32Array)[0];
    for (const k of [1, dim + 2, 3 * dim + 5, (L - 1) * dim + 7]) {
      const eps = 1e-2;
      const plus = Float32Array.from(vectors);
      plus[k] += eps;
      const minus = Float32Array.from(vectors);
      minus[k] -= eps;
      const fd = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      expect(Math.abs(fd - grad[k])).toBeLessThan(0.03 * Math.abs(grad[k]) + 2e-5);
    }
    // Every layer's set gets a gradient of its own.
    const layerNorm = (l: number) => Math.hypot(...grad.subarray(l * dim, (l + 1) * dim));
    expect(layers!.every((_, l) => layerNorm(l) > 0)).toBe(true);
    expect(layerNorm(0)).not.toBeCloseTo(layerNorm(1), 8);
    await session.release();
  });
});
