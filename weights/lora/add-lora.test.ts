import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { diskModelFiles } from '../../adapters/fs.ts';
import { openGraph } from '../../adapters/graph-session.ts';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';
import { openModelFolder, type SdModel } from '../model-folder.ts';
import { decodeModel, type Model } from '../onnx/proto.ts';
import type { Session } from '../session.ts';
import { timestepTensor } from '../unet-io.ts';
import { addLora } from './add-lora.ts';
import { loadedLayers } from './lora-file.ts';
import { initLora, loraFeeds, loraOffsets } from './lora-params.ts';
import { mergeLora } from './merge-lora.ts';

const torchDir = join(import.meta.dir, '..', '..', 'test', 'fixtures', 'torch-sd', 'folder');
const models: [string, SdModel][] = [
  ['tiny', await openModel('tiny')],
  ['the torch-made SD1 folder', await openModelFolder(diskModelFiles(torchDir), ortSessionFactory)],
];

const open = (m: SdModel, g: Model): Promise<Session> =>
  openGraph(g, (_, loc) => m.files.path(`unet/${loc}`), { optimization: 'disabled' });

/** A fixed UNet input: two latents, a timestep, random text conditioning. */
const inputs = (m: SdModel, s: Session): Record<string, Tensor> => {
  const rng = createRng(3);
  const h = m.info.resolution / m.info.vaeScale;
  const lat = [2, m.info.latentChannels, h, h];
  const ctx = [2, 77, m.info.hiddenSize];
  const [sample, t, hidden] = s.inputs;
  return {
    [sample.name]: tensor('float32', lat, rng.fillNormal(new Float32Array(lat.reduce((a, b) => a * b)))),
    [t.name]: timestepTensor(t, 500, 2),
    [hidden.name]: tensor('float32', ctx, rng.fillNormal(new Float32Array(ctx.reduce((a, b) => a * b)))),
  };
};

const out0 = async (s: Session, feeds: Record<string, Tensor>) =>
  (await s.run(feeds))[s.outputs[0].name].data as Float32Array;

describe.each(models)('LoRA graph surgery on %s', (_, m) => {
  const unet = async () => decodeModel((await m.files.readBytes('unet/model.onnx'))!);

  test('the rewritten UNet computes exactly what the original does while B = 0', async () => {
    const original = await unet();
    const lora = addLora(original, { rank: 4, alpha: 8 });
    expect(lora.layers.length).toBeGreaterThan(0);
    expect(lora.layers.every((l) => /(to_q|to_k|to_v|to_out(\.0)?)$/.test(l.path))).toBe(true);
    const base = await open(m, original);
    const branched = await open(m, lora.model);
    const x = inputs(m, base);
    const w = initLora(lora.layers, lora.shape, 0);
    expect(w.params.some((v) => v !== 0)).toBe(true); // A is random: only B = 0 makes the branch vanish
    const want = await out0(base, x);
    const got = await out0(branched, { ...x, ...loraFeeds(w) });
    expect(got.length).toBe(want.length);
    let same = 0;
    for (let i = 0; i < want.length; i++) same += got[i] === want[i] ? 1 : 0;
    expect(same).toBe(want.length);
    await base.release();
    await branched.release();
  });

  test('weights merged into the initializers give what the LoRA branch gives (float rounding apart)', async () => {
    const original = await unet();
    const lora = addLora(original, { rank: 3, alpha: 5 });
    const w = initLora(lora.layers, lora.shape, 1);
    // Nonzero B: a LoRA after some training.
    const rng = createRng(9);
    w.params = w.params.map((v) => v + 0.05 * rng.normal());
    const branched = await open(m, lora.model);
    const x = inputs(m, branched);
    const viaBranch = await out0(branched, { ...x, ...loraFeeds(w) });
    const scale = 0.7;
    // The user's scale s on B is the same as s on the whole branch.
    const scaledB = { ...w, params: w.params.slice() };
    for (const o of loraOffsets(w.layers, w.shape.rank).offsets)
      for (let k = o.b; k < o.end; k++) scaledB.params[k] *= scale;
    const merged = mergeLora(original, [{ layers: loadedLayers(w), scale }], (loc, off, len) =>
      m.files.readRange(`unet/${loc}`, off, len),
    );
    const viaMerge = await out0(await open(m, merged), x);
    const viaScaledBranch = await out0(branched, { ...x, ...loraFeeds(scaledB) });
    const base = await out0(await open(m, original), x);
    let diff = 0;
    let effect = 0;
    let scale2 = 0;
    for (let i = 0; i < viaMerge.length; i++) {
      diff = Math.max(diff, Math.abs(viaMerge[i] - viaScaledBranch[i]));
      effect = Math.max(effect, Math.abs(viaScaledBranch[i] - base[i]));
      scale2 = Math.max(scale2, Math.abs(viaBranch[i]));
    }
    expect(effect).toBeGreaterThan(1e-3); // the LoRA changes the output…
    expect(diff).toBeLessThan(1e-4 * Math.max(1, scale2)); // …and both forms agree to float rounding
  });
});
