/**
 * The training step on a float16 export against the float32 step of the folder it was converted from (same
 * batch, same vectors). Metric: relative L2 of ∂loss/∂vectors. Tolerance 1e-2: every value the float16 graph
 * stores (weights, activations, backward values) is rounded by up to 2⁻¹¹ ≈ 4.9e-4 relative, onnxruntime's CPU
 * provider computes each op in float32 between those roundings, and the gradient passes through some sixty stored
 * values forward and back; independent roundings add like √60 · 4.9e-4 ≈ 4e-3, so 1e-2 leaves a margin of 2.5
 * without hiding a wrong rule (a missing term or a wrong sign is an O(1) error). Measured: 2.7e-3 (tiny, scale
 * 2¹⁶) and 1.3e-3 (the torch-made SD1 folder, scale 2¹⁶; 2.3e-3 unscaled, where small gradients underflow).
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { openGraph } from '../../adapters/graph-session.ts';
import { openModel } from '../../adapters/open-model.ts';
import { allFinite, unscale } from '../../common/train/loss-scale.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { float16ModelDir } from '../../test/support/float16-model.ts';
import { relL2 } from '../../test/support/rel-l2.ts';
import { injectVectors } from '../embeddings/inject-vectors.ts';
import { decodeModel } from '../onnx/proto.ts';
import type { Session } from '../session.ts';
import { lossScaleFeed } from './loss-scale-feed.ts';
import { buildTrainGraph, trainInputs, trainOutputs } from './train-graph.ts';

const torchFolder = join(import.meta.dir, '..', '..', 'test', 'fixtures', 'torch-sd', 'folder');

/** The step session of a folder, and a run of it on a fixed two-sample batch with the given loss scale. */
const buildStep = async (dir: string) => {
  const model = await openModel(dir);
  const te = injectVectors(decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!));
  const unet = decodeModel((await model.files.readBytes('unet/model.onnx'))!);
  const session: Session = await openGraph(buildTrainGraph(te.model, unet), (init, loc) =>
    model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
  );
  const B = 2;
  const h = model.info.resolution / model.info.vaeScale;
  const lat = [B, model.info.latentChannels, h, h];
  const n = lat.reduce((a, b) => a * b);
  const V = te.tableRows;
  const tok = model.tokenizer;
  const row = (w: number[]) => [tok.bosId, ...w, tok.eosId, ...new Array(77 - w.length - 2).fill(tok.padId)];
  const idList = [...row([...tok.encode('a photo of a'), V]), ...row([V + 1, ...tok.encode('on a table')])];
  const input = (name: string) => session.inputs.find((i) => i.name === name)!;
  const ids =
    input(trainInputs.ids).dtype === 'int64'
      ? tensor('int64', [B, 77], BigInt64Array.from(idList, BigInt))
      : tensor('int32', [B, 77], Int32Array.from(idList));
  const timestep =
    input(trainInputs.timestep).dtype === 'int64'
      ? tensor('int64', [B], BigInt64Array.of(500n, 120n))
      : tensor('float32', [B], Float32Array.of(500, 120));
  const rng = createRng(7);
  const vectors = Float32Array.from({ length: 2 * te.dim }, () => rng.normal() * 0.02);
  const run = async (scale = 1) => {
    const feeds: Record<string, Tensor> = {
      [trainInputs.ids]: ids,
      [trainInputs.vectors]: tensor('float32', [2, te.dim], vectors),
      [trainInputs.latents]: tensor('float32', lat, createRng(1).fillNormal(new Float32Array(n))),
      [trainInputs.timestep]: timestep,
      [trainInputs.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(n))),
      [trainInputs.weights]: tensor('float32', [B], Float32Array.of(1, 0.5)),
      ...lossScaleFeed(session, scale),
    };
    const out = await session.run(feeds);
    return { loss: (out[trainOutputs.loss].data as Float32Array)[0], grad: out[trainOutputs.grad] };
  };
  return { session, run };
};

const built = new Map<string, ReturnType<typeof buildStep>>();
const stepOf = (dir: string) => {
  if (!built.has(dir)) built.set(dir, buildStep(dir));
  return built.get(dir)!;
};

describe('the training step on a float16 export', () => {
  for (const [label, name] of [
    ['tiny', 'tiny'],
    ['the torch-made SD1 folder', torchFolder],
  ] as const)
    test(`gives the float32 gradient of ${label} within rel-L2 1e-2 (scaled by 2^16, then unscaled)`, async () => {
      const full = await stepOf(name);
      const half = await stepOf(await float16ModelDir(name));
      // float32 at the edge: the master vectors, latents and targets are fed as float32; the gradient is float32.
      expect(half.session.inputs.filter((i) => i.dtype === 'float16')).toEqual([]);
      const ref = await full.run();
      const scaled = await half.run(2 ** 16);
      expect(scaled.grad.dtype).toBe('float32');
      const g = unscale(scaled.grad.data as Float32Array, { scale: 2 ** 16, goodSteps: 0 }).grad!;
      expect(relL2(g, ref.grad.data as Float32Array)).toBeLessThan(1e-2);
      // The loss is computed in float32 from the float16 prediction and is not scaled.
      expect(Math.abs(scaled.loss - ref.loss) / ref.loss).toBeLessThan(1e-3);
    });

  test('overflows to a non-finite gradient under a forced huge scale, which the scaler skips and halves', async () => {
    const half = await stepOf(await float16ModelDir('tiny'));
    const forced = await half.run(2 ** 40);
    expect(Number.isFinite(forced.loss)).toBe(true); // the forward pass is untouched by the scale
    expect(allFinite(forced.grad.data as Float32Array)).toBe(false);
    const u = unscale(forced.grad.data as Float32Array, { scale: 2 ** 40, goodSteps: 17 });
    expect(u.grad).toBeUndefined();
    expect(u.next).toEqual({ scale: 2 ** 39, goodSteps: 0 });
  });
});
