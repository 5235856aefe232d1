/**
 * SDXL textual inversion on a float16 export of tiny-xl (converted by our `float16Folder`): both encoders' vectors
 * are float32 masters cast at the graph input, the loss is float32, the gradient of the scaled loss comes back in
 * float32. Checked against the float32 step of the folder it was converted from (same batch, same vectors), with
 * the tolerance argued in weights/training/train-graph-float16.test.ts (rel-L2 1e-2 for ~60 half roundings).
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { openGraph } from '../adapters/graph-session.ts';
import { openModel } from '../adapters/open-model.ts';
import { trainDeps } from '../adapters/train-deps.ts';
import type { Frame } from '../common/frames.ts';
import { createRng } from '../common/numerics/rng.ts';
import { unscale } from '../common/train/loss-scale.ts';
import { tensor, type Tensor } from '../common/tensor.ts';
import { parseTrainRequest } from '../common/train/train-request.ts';
import { runTrain } from '../pipeline/train/run-train.ts';
import { readEmbedding } from '../weights/embeddings/embedding-file.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import { lossScaleFeed } from '../weights/training/loss-scale-feed.ts';
import {
  buildTrainGraphXl,
  trainInputsXl as I,
  trainOutputsXl as O,
  xlInitializerFolder,
} from '../weights/training/train-graph-xl.ts';
import { float16ModelDir } from './support/float16-model.ts';
import { relL2 } from './support/rel-l2.ts';
import { conceptFolder } from './train-helpers.ts';

/** The SDXL step of a folder and a run of it on a fixed two-sample batch under a loss scale. */
const stepOf = async (dir: string) => {
  const model = await openModel(dir);
  const read = async (rel: string) => decodeModel((await model.files.readBytes(rel))!);
  const te1 = injectVectors(await read('text_encoder/model.onnx'));
  const te2 = injectVectors(await read('text_encoder_2/model.onnx'));
  const session = await openGraph(
    buildTrainGraphXl(te1, te2, await read('unet/model.onnx'), { latent: [4, 8, 8], sequence: 77 }),
    (init, loc) => model.files.path(`${xlInitializerFolder(init)}/${loc}`),
  );
  const [w1, w2] = model.info.sdxl!.textWidths;
  const rows = (tok: typeof model.tokenizer, V: number) =>
    [
      [...tok.encode('a photo of a'), V],
      [V + 1, ...tok.encode('on a table')],
    ].flatMap((w) => [tok.bosId, ...w, tok.eosId, ...new Array(77 - w.length - 2).fill(tok.padId)]);
  const ids = (name: string, list: number[]) =>
    session.inputs.find((i) => i.name === name)!.dtype === 'int64'
      ? tensor('int64', [2, 77], BigInt64Array.from(list, BigInt))
      : tensor('int32', [2, 77], Int32Array.from(list));
  const rng = createRng(7);
  const lat = [2, 4, 8, 8];
  const feeds: Record<string, Tensor> = {
    [I.ids]: ids(I.ids, rows(model.tokenizer, te1.tableRows)),
    [I.ids2]: ids(I.ids2, rows(model.tokenizer2!, te2.tableRows)),
    [I.vectors]: tensor(
      'float32',
      [2, w1],
      Float32Array.from({ length: 2 * w1 }, () => rng.normal() * 0.02),
    ),
    [I.vectors2]: tensor(
      'float32',
      [2, w2],
      Float32Array.from({ length: 2 * w2 }, () => rng.normal() * 0.02),
    ),
    [I.latents]: tensor('float32', lat, createRng(1).fillNormal(new Float32Array(2 * 4 * 64))),
    [I.timestep]: tensor('float32', [2], Float32Array.of(500, 120)),
    [I.timeIds]: tensor('float32', [2, 6], Float32Array.of(96, 128, 0, 16, 64, 64, 64, 64, 0, 0, 64, 64)),
    [I.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(2 * 4 * 64))),
    [I.weights]: tensor('float32', [2], Float32Array.of(1, 0.5)),
  };
  return {
    session,
    run: async (scale = 1) => {
      const out = await session.run({ ...feeds, ...lossScaleFeed(session, scale) });
      const g = (name: string) => out[name].data as Float32Array;
      return { loss: g(O.loss)[0], grad1: g(O.grad), grad2: g(O.grad2), dtypes: [out[O.grad].dtype] };
    },
  };
};

describe('SDXL textual inversion on a float16 export of tiny-xl', () => {
  test('gives both encoders’ float32 gradients within rel-L2 1e-2 (scaled by 2^16, then unscaled)', async () => {
    const full = await stepOf('tiny-xl');
    const half = await stepOf(await float16ModelDir('tiny-xl'));
    // float32 at the edge: vectors, latents, time_ids and targets are fed as float32; the gradients are float32.
    expect(half.session.inputs.filter((i) => i.dtype === 'float16')).toEqual([]);
    expect(half.session.inputs.some((i) => i.name === 'loss_scale')).toBe(true);
    expect(full.session.inputs.some((i) => i.name === 'loss_scale')).toBe(false);
    const ref = await full.run();
    const scaled = await half.run(2 ** 16);
    expect(scaled.dtypes).toEqual(['float32']);
    const joined = Float32Array.from([...scaled.grad1, ...scaled.grad2]);
    const g = unscale(joined, { scale: 2 ** 16, goodSteps: 0 }).grad!;
    const e1 = relL2(g.subarray(0, ref.grad1.length), ref.grad1);
    const e2 = relL2(g.subarray(ref.grad1.length), ref.grad2);
    console.log(`float16 tiny-xl step gradient rel-L2: clip_l ${e1.toExponential(2)}, clip_g ${e2.toExponential(2)}`);
    expect(e1).toBeLessThan(1e-2);
    expect(e2).toBeLessThan(1e-2);
    expect(Math.abs(scaled.loss - ref.loss) / ref.loss).toBeLessThan(1e-3);
  });

  test('trains under dynamic loss scaling and writes a clip_l/clip_g file with finite vectors', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-xl-train-'));
    const fs: Frame[] = await lastValueFrom(
      runTrain(
        parseTrainRequest({
          images: await conceptFolder(),
          model: await float16ModelDir('tiny-xl'),
          token: '<disc>',
          init: 'circle',
          lr: 0.05,
          steps: 3,
          saveEvery: 3,
          validateEvery: 0,
          previewEvery: 0,
          out,
        }),
        trainDeps(),
      ).pipe(toArray()),
    );
    expect(fs.at(-1)!.type).toBe('done');
    const losses = fs.filter((f): f is Extract<Frame, { type: 'loss' }> => f.type === 'loss');
    expect(losses.map((f) => f.step)).toEqual([1, 2, 3]);
    for (const f of losses) {
      expect(Number.isFinite(f.loss) && f.gradNorm > 0).toBe(true);
      expect(f.terms).toEqual({ lossScale: 65536 });
    }
    const e = readEmbedding(new Uint8Array(readFileSync(join(out, 'learned_embeds.safetensors'))), {
      fileName: 'learned_embeds.safetensors',
    });
    expect(e.layout).toBe('sdxl');
    expect([...e.vectors, ...e.clipG!.vectors].every(Number.isFinite)).toBe(true);
  });
});
