/**
 * The fused pivotal step (vectors → text encoder → UNet with LoRA branches → loss) differentiated by our autodiff:
 * ∂loss/∂A and ∂loss/∂B against central differences of the same graph's loss, on the torch-made SD1 folder.
 */
import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { diskModelFiles } from '../../adapters/fs.ts';
import { openGraph } from '../../adapters/graph-session.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { loadStepGraph } from '../../pipeline/train/train-setup.ts';
import { openModelFolder } from '../model-folder.ts';
import { trainInputs, trainOutputs } from '../training/train-graph.ts';
import { timestepTensor } from '../unet-io.ts';
import { initLora, loraOffsets } from './lora-params.ts';
import { addLoraGrad, pivotalFeeds, type PivotalContext } from './pivotal-step.ts';

const dir = join(import.meta.dir, '..', '..', 'test', 'fixtures', 'torch-sd', 'folder');
const model = await openModelFolder(diskModelFiles(dir), ortSessionFactory);
const h = model.info.resolution / model.info.vaeScale;
const shape = { rank: 2, alpha: 3 };
const step = await loadStepGraph(model, [model.info.latentChannels, h, h], {
  choice: { use: 'pivotal', ...shape, fraction: 1, lr: 1e-4 },
  vectors: 1,
});
const session = await openGraph(step.graph, (init, loc) =>
  model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
);
const p: PivotalContext = { shape, layers: step.lora!.layers, fraction: 1, lr: 1e-4, start: 0 };

const B = 2;
const lat = [B, model.info.latentChannels, h, h];
const n = lat.reduce((a, b) => a * b);
const V = step.tableRows;
const tok = model.tokenizer;
const row = (w: number[]) => [tok.bosId, ...w, tok.eosId, ...new Array(77 - w.length - 2).fill(tok.padId)];
const idsInfo = session.inputs.find((i) => i.name === trainInputs.ids)!;
const idValues = [...row([...tok.encode('a photo of a'), V]), ...row([V, ...tok.encode('on a table')])];
const fixed: Record<string, Tensor> = {
  [trainInputs.ids]:
    idsInfo.dtype === 'int64'
      ? tensor('int64', [B, 77], BigInt64Array.from(idValues, BigInt))
      : tensor('int32', [B, 77], Int32Array.from(idValues)),
  [trainInputs.vectors]: tensor('float32', [1, step.dim], step.tableVectors(tok.encode('circle'))),
  [trainInputs.latents]: tensor('float32', lat, createRng(1).fillNormal(new Float32Array(n))),
  [trainInputs.timestep]: timestepTensor(session.inputs.find((i) => i.name === trainInputs.timestep)!, 400, B),
  [trainInputs.target]: tensor('float32', lat, createRng(2).fillNormal(new Float32Array(n))),
  [trainInputs.weights]: tensor('float32', [B], Float32Array.of(1, 0.5)),
};
// A LoRA part-way through training: A as initialised, B nonzero (with B = 0, ∂loss/∂A is exactly 0).
const start = initLora(p.layers, shape, 0).params;
const rng = createRng(5);
for (const o of loraOffsets(p.layers, shape.rank).offsets)
  for (let k = o.b; k < o.end; k++) start[k] = 0.3 * rng.normal();

const run = async (params: Float32Array) =>
  session.run({
    ...fixed,
    ...pivotalFeeds(p, { params, optimizer: { step: 0, m: new Float64Array(0), v: new Float64Array(0) } }),
  });
const loss = async (params: Float32Array) => ((await run(params))[trainOutputs.loss].data as Float32Array)[0];

describe('the pivotal-tuning step graph', () => {
  test('has a gradient for every A and B, and for the vectors', async () => {
    const out = await run(start);
    const g = new Float32Array(start.length);
    addLoraGrad(p, out, g, 1);
    const { offsets } = loraOffsets(p.layers, shape.rank);
    for (const o of offsets) {
      expect(g.subarray(o.a, o.b).some((v) => v !== 0)).toBe(true);
      expect(g.subarray(o.b, o.end).some((v) => v !== 0)).toBe(true);
    }
    expect((out[trainOutputs.grad].data as Float32Array).some((v) => v !== 0)).toBe(true);
  });

  test('gives ∂loss/∂A and ∂loss/∂B equal to central differences of the loss', async () => {
    const g = new Float32Array(start.length);
    addLoraGrad(p, await run(start), g, 1);
    const { offsets } = loraOffsets(p.layers, shape.rank);
    // Per coordinate: the largest-gradient entry of A and of B in three layers (first, middle, last).
    const picks: number[] = [];
    for (const o of [offsets[0], offsets[offsets.length >> 1], offsets.at(-1)!])
      for (const [from, to] of [
        [o.a, o.b],
        [o.b, o.end],
      ]) {
        let best = from;
        for (let k = from; k < to; k++) if (Math.abs(g[k]) > Math.abs(g[best])) best = k;
        picks.push(best);
      }
    for (const k of picks) {
      const eps = 1e-2;
      const plus = Float32Array.from(start);
      plus[k] += eps;
      const minus = Float32Array.from(start);
      minus[k] -= eps;
      const fd = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      expect(Math.abs(fd - g[k])).toBeLessThan(0.02 * Math.abs(g[k]) + 1e-5);
    }
    // Along one random direction in all of (A, B) at once: ⟨g, v⟩ against the difference of the loss.
    const v = createRng(11).fillNormal(new Float32Array(start.length));
    let vn = 0;
    for (const x of v) vn += x * x;
    const unit = v.map((x) => x / Math.sqrt(vn));
    const eps = 1e-2;
    const fd =
      ((await loss(start.map((x, i) => x + eps * unit[i]))) - (await loss(start.map((x, i) => x - eps * unit[i])))) /
      (2 * eps);
    const analytic = g.reduce((s, x, i) => s + x * unit[i], 0);
    expect(Math.abs(fd - analytic)).toBeLessThan(0.02 * Math.abs(analytic) + 1e-5);
  });
});
