/**
 * The SDXL textual-inversion gradient — d loss / d clip_l and d loss / d clip_g through both text encoders and the
 * UNet of a torch.onnx-exported SDXL folder — from our autodiff, checked against PyTorch autograd
 * (test/fixtures/torch-sdxl/make_folder.py; reference.json's `inversion` states every input). The composition is
 * written here from the folder's graphs and the project's helpers (injectVectors, renameGraph, GraphBuilder), as
 * the SDXL step composes them: each encoder reads its learned row at id V (the table extended by one row), the
 * context is both penultimate hidden states joined, text_embeds is text_encoder_2's pooled projection, and
 *
 *   loss = mean_b mean_chw (unet(noisy_latents, timestep, context, text_embeds, time_ids) − target)²
 *
 * Tolerance: rel-L2 ≤ 1e-5 for both gradients (float32 onnxruntime against float64 torch of the same weights).
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { tensor } from '../common/tensor.ts';
import { differentiate } from '../weights/autodiff/differentiate.ts';
import { injectVectors, vectorsInput } from '../weights/embeddings/inject-vectors.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { decodeModel, emptyGraph, encodeModel, type Model } from '../weights/onnx/proto.ts';
import { pruneDead } from '../weights/onnx/prune-dead.ts';
import { renameGraph } from '../weights/onnx/rename-graph.ts';
import { relL2 } from './support/rel-l2.ts';
import { type Stored, torchSdxlInversion, torchSdxlRoot } from './support/torch-sdxl-reference.ts';

const root = torchSdxlRoot;
const graphOf = (c: string) => decodeModel(new Uint8Array(readFileSync(join(root, 'folder', c, 'model.onnx'))));

const inv = torchSdxlInversion;

/**
 * Both injected encoders and the UNet as one forward graph with the MSE loss. Inputs: input_ids, input_ids_2,
 * clip_l, clip_g, noisy_latents, timestep, time_ids, target; output: loss. `contextOutputs` names each encoder's
 * penultimate hidden state (what SDXL conditions on).
 */
const composeSdxlLoss = (contextOutputs: readonly [string, string]): Model => {
  const te1 = injectVectors(graphOf('text_encoder'));
  const te2 = injectVectors(graphOf('text_encoder_2'));
  const unet = graphOf('unet');
  const rename = (prefix: string, fixed: Record<string, string>) => (n: string) => fixed[n] ?? `${prefix}/${n}`;
  const g1 = renameGraph(te1.model.graph, rename('te1', { input_ids: 'input_ids', [vectorsInput]: 'clip_l' }));
  const g2 = renameGraph(te2.model.graph, rename('te2', { input_ids: 'input_ids_2', [vectorsInput]: 'clip_g' }));
  const gu = renameGraph(
    unet.graph,
    rename('unet', {
      sample: 'noisy_latents',
      timestep: 'timestep',
      encoder_hidden_states: 'context',
      text_embeds: 'te2/text_embeds',
      time_ids: 'time_ids',
    }),
  );
  const g = emptyGraph('sdxl_inversion_loss');
  g.nodes = [...g1.nodes, ...g2.nodes, ...gu.nodes];
  g.initializers = [...g1.initializers, ...g2.initializers, ...gu.initializers];
  g.inputs = [...g1.inputs, ...g2.inputs, ...gu.inputs.filter((i) => !['context', 'te2/text_embeds'].includes(i.name))];
  const b = new GraphBuilder(g);
  b.op('Concat', [`te1/${contextOutputs[0]}`, `te2/${contextOutputs[1]}`], { axis: -1 }, { outputs: ['context'] });
  const target = b.input('target', 'float32', ['batch', 4, 8, 8]);
  const diff = b.op('Sub', ['unet/out_sample', target]);
  const perSample = b.op('ReduceMean', [b.op('Mul', [diff, diff])], { axes: [1, 2, 3], keepdims: 0 });
  b.output(b.op('ReduceMean', [perSample], { keepdims: 0 }), 'float32', [], 'loss');
  pruneDead(g);
  return { ...unet, opsetImport: [{ domain: '', version: 14 }], graph: g };
};

const f32 = (s: Stored) => tensor('float32', s.dims, Float32Array.from(s.data));
const i64 = (rows: number[][]) =>
  tensor('int64', [rows.length, rows[0].length], BigInt64Array.from(rows.flat(), BigInt));
const feeds = () => ({
  input_ids: i64(inv.input_ids),
  input_ids_2: i64(inv.input_ids_2),
  clip_l: f32(inv.clip_l),
  clip_g: f32(inv.clip_g),
  noisy_latents: f32(inv.noisy_latents),
  timestep: tensor('int64', [inv.timestep.length], BigInt64Array.from(inv.timestep, BigInt)),
  time_ids: f32(inv.time_ids),
  target: f32(inv.target),
});

const run = async (contextOutputs: readonly [string, string]) => {
  const model = differentiate(composeSdxlLoss(contextOutputs), { of: 'loss', wrt: ['clip_l', 'clip_g'] });
  const session = await ortSessionFactory.create(encodeModel(model));
  try {
    const out = await session.run(feeds());
    return {
      loss: (out.loss.data as Float32Array)[0],
      clipL: out.clip_l_grad.data as Float32Array,
      clipG: out.clip_g_grad.data as Float32Array,
    };
  } finally {
    await session.release();
  }
};

describe('the SDXL textual-inversion gradient of a torch.onnx-exported folder, by our autodiff', () => {
  test('the placeholder is id V in both prompts of both tokenizers, so both learned rows are read', () => {
    for (const rows of [inv.input_ids, inv.input_ids_2]) for (const r of rows) expect(r).toContain(inv.placeholder_id);
  });

  test('matches PyTorch autograd: loss, d loss / d clip_l and d loss / d clip_g to rel-L2 ≤ 1e-5', async () => {
    const got = await run(['hidden_states.1', 'hidden_states.2']);
    expect(Math.abs(got.loss - inv.loss) / inv.loss).toBeLessThanOrEqual(1e-5);
    expect(Array.from(got.clipL).every(Number.isFinite)).toBe(true);
    expect(relL2(got.clipL, inv.clip_l_grad.data)).toBeLessThanOrEqual(1e-5);
    expect(relL2(got.clipG, inv.clip_g_grad.data)).toBeLessThanOrEqual(1e-5);
  });

  test('is told apart from a composition on the last hidden states instead of the penultimate ones', async () => {
    const got = await run(['hidden_states.2', 'hidden_states.3']);
    expect(relL2(got.clipL, inv.clip_l_grad.data)).toBeGreaterThan(1e-2);
    expect(relL2(got.clipG, inv.clip_g_grad.data)).toBeGreaterThan(1e-2);
  });
});
