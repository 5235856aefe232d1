/**
 * A linear layer's MatMul (activation × constant weight) with onnxruntime's pre-packed weight copy and without it
 * (`session.disable_prepacking`, as lean-memory mode opens big step graphs), at the SD1.5 UNet's linear-layer shapes
 * (rows = tokens at 16×16, 32×32 and 64×64 latents). Alternated runs, median of 15 each.
 *   npx bun bench/matmul-prepack.ts
 * Why: the SD1.5 step's forward half spends more in these MatMuls than the forward graph does (README, Where a step's
 * time goes); this says how much of that pre-packing could explain.
 */
import * as ort from 'onnxruntime-node';
import { createRng } from '../common/numerics/rng.ts';
import { tensor } from '../common/tensor.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';

const rng = createRng(1);
/** [rows, in, out] */
const shapes = [
  [256, 1280, 10240],
  [256, 1280, 1280],
  [1024, 640, 640],
  [4096, 320, 320],
  [4096, 320, 2560],
];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const results: Record<string, number> = {};
for (const [m, k, n] of shapes) {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [1, m, k]);
  const w = b.initializer(
    'w',
    tensor(
      'float32',
      [k, n],
      rng.fillNormal(new Float32Array(k * n)).map((v) => v * 0.02),
    ),
  );
  b.output(b.op('MatMul', [x, w]), 'float32', [1, m, n], 'y');
  const bytes = encodeModel(b.toModel(17));
  const open = (prepacked: boolean) =>
    ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      ...(prepacked ? {} : { extra: { session: { disable_prepacking: '1' } } }),
    });
  const [packed, plain] = [await open(true), await open(false)];
  const feeds = { x: new ort.Tensor('float32', rng.fillNormal(new Float32Array(m * k)), [1, m, k]) };
  await packed.run(feeds);
  await plain.run(feeds);
  const [tp, tn]: number[][] = [[], []];
  for (let i = 0; i < 15; i++) {
    let t = performance.now();
    await packed.run(feeds);
    tp.push(performance.now() - t);
    t = performance.now();
    await plain.run(feeds);
    tn.push(performance.now() - t);
  }
  const ratio = median(tn) / median(tp);
  results[`${m}x${k}x${n}`] = ratio;
  console.log(
    `${m}×${k}·${k}×${n}: pre-packed ${median(tp).toFixed(2)} ms, not ${median(tn).toFixed(2)} ms → ${ratio.toFixed(2)}`,
  );
}
console.log(JSON.stringify({ bench: 'matmul-prepack', unpackedOverPacked: results }));
