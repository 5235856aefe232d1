/**
 * The stride-1 Conv input gradient three ways, per SD1.5 UNet conv shape (3×3, C→C, batch 1): 'flipped-conv' (the
 * flipped kernel folded into a resident copy at session creation), 'conv-transpose' (ConvTranspose reading the
 * original weight: no copy) and 'flipped-conv-per-step' (the flip made every run: no resident copy). For each shape
 * the forward-only graph and the three step graphs (forward + input gradient) are timed interleaved in one process;
 * prints the backward's ms (step − forward, median) per form and the resident bytes the folded form adds.
 * `--lean` opens every session in lean-memory mode (what training big models uses: no pre-packing, so ConvTranspose
 * re-lays out its weight every run instead of once).
 *
 *   npx bun bench/conv-input-grad.ts [--runs 10] [--lean]
 */
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel, type Model } from '../weights/onnx/proto.ts';
import { float32, tensor } from '../common/tensor.ts';
import { createRng } from '../common/numerics/rng.ts';
import { differentiate } from '../weights/autodiff/differentiate.ts';
import type { GradOptions } from '../weights/autodiff/grad-emitter.ts';

const i = process.argv.indexOf('--runs');
const runs = i > 0 ? Number(process.argv[i + 1]) : 10;
const lean = process.argv.includes('--lean');
// [channels in, channels out, side, kernel]: SD1.5's resnet convs at each level, the 2560→1280 up-block conv, a 1×1.
const shapes: [number, number, number, number][] = [
  [320, 320, 64, 3],
  [640, 640, 32, 3],
  [1280, 1280, 16, 3],
  [1280, 1280, 8, 3],
  [2560, 1280, 8, 3],
  [1280, 1280, 16, 1],
];
const rng = createRng(3);
const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.02);

const build = (ci: number, co: number, side: number, k: number): Model => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [1, ci, side, side]);
  const w = b.initializer('w', float32([co, ci, k, k], fill(co * ci * k * k)));
  const y = b.op('Conv', [x, w], { pads: Array(4).fill((k - 1) / 2), kernel_shape: [k, k] });
  const r = b.input('r', 'float32', [1, co, side, side]);
  b.output(b.op('ReduceSum', [b.op('Mul', [y, r])], { keepdims: 0 }), 'float32', [], 'loss');
  return b.toModel(17);
};
const forms: NonNullable<GradOptions['convInputGrad']>[] = ['flipped-conv', 'conv-transpose', 'flipped-conv-per-step'];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

for (const [ci, co, side, k] of shapes) {
  const model = build(ci, co, side, k);
  const graphs = [model, ...forms.map((f) => differentiate(model, { of: 'loss', wrt: ['x'], convInputGrad: f }))];
  const sessions = await Promise.all(graphs.map((g) => ortSessionFactory.create(encodeModel(g), { leanMemory: lean })));
  const feeds = {
    x: tensor('float32', [1, ci, side, side], fill(ci * side * side)),
    r: tensor('float32', [1, co, side, side], fill(co * side * side)),
  };
  const ms: number[][] = graphs.map(() => []);
  for (let r = 0; r < runs + 1; r++)
    for (let g = 0; g < sessions.length; g++) {
      const t = performance.now();
      await sessions[g].run(feeds);
      if (r > 0) ms[g].push(performance.now() - t);
    }
  const [fwd, ...steps] = ms.map(median);
  const back = Object.fromEntries(forms.map((f, j) => [f, +(steps[j] - fwd).toFixed(2)]));
  console.log(
    JSON.stringify({
      shape: `${ci}→${co} ${k}×${k} at ${side}×${side}`,
      sessions: lean ? 'lean' : 'default',
      forwardMs: +fwd.toFixed(2),
      backwardMs: back,
      foldedCopyMiB: +((co * ci * k * k * 4) / 2 ** 20).toFixed(1),
    }),
  );
  await Promise.all(sessions.map((s) => s.release?.()));
}
