/**
 * Conv weight gradients two ways on the shipped model's VAE training step (the pretraining phase where conv
 * weight gradients dominate): 'patches' (kernel-offset slices and one Gemm, the default) against 'conv' (the
 * batch-as-channels Conv of Xᵀ with dYᵀ). Both step graphs are timed interleaved in one process; prints ms per
 * step and the ratio conv/patches.
 *
 *   npx bun bench/conv-weight-grad.ts [--runs 8] [--batch 8]
 */
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { initialWeights } from '../pipeline/pretrain/model-weights.ts';
import { ParamSet } from '../pipeline/pretrain/param-set.ts';
import { encodeModel, decodeModel } from '../weights/onnx/proto.ts';
import { untrainedFolder } from '../pipeline/pretrain/pretrain.ts';
import { buildVaeLossGraph } from '../pipeline/pretrain/vae-loss-graph.ts';
import { worldItems } from '../pipeline/pretrain/world-data.ts';
import { tensor } from '../common/tensor.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('runs', 8);
const batch = arg('batch', 8);
const base = untrainedFolder(0);
const enc = decodeModel(base['vae_encoder/model.onnx']);
const dec = decodeModel(base['vae_decoder/model.onnx']);
const forms = ['patches', 'conv'] as const;
const graphs = forms.map((f) =>
  buildVaeLossGraph(enc, dec, { batch, resolution: 64, latentChannels: 4, beta: 1e-3, grad: { convWeightGrad: f } }),
);
const weights = new ParamSet(
  initialWeights(graphs[0], { vae_encoder: { model: enc }, vae_decoder: { model: dec } }),
).feeds();
const feeds = {
  ...weights,
  images: tensor('float32', [batch, 3, 64, 64], worldItems(0, 0, batch, 64).pixels),
  noise: tensor('float32', [batch, 4, 8, 8], new Float32Array(batch * 256)),
};
const sessions = await Promise.all(graphs.map((g) => ortSessionFactory.create(encodeModel(g.model))));
const ms: number[][] = forms.map(() => []);
for (let r = 0; r < runs + 1; r++) {
  for (let i = 0; i < forms.length; i++) {
    const t = performance.now();
    await sessions[i].run(feeds);
    if (r > 0) ms[i].push(performance.now() - t);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const [patches, conv] = ms.map(median);
console.log(`VAE step, batch ${batch}: patches ${patches.toFixed(0)} ms, conv ${conv.toFixed(0)} ms`);
console.log(JSON.stringify({ patchesMs: patches, convMs: conv, ratio: conv / patches }));
