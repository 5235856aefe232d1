/**
 * One 3×3 convolution alone in a session, under onnxruntime's defaults and each of lean-memory mode's settings:
 * does a session setting make a weight-bound convolution (many channels over few pixels) slower? In the SD1.5 step
 * profile the same node (`up_blocks.0.resnets.0.conv1`, 2560 → 1280 channels at 8×8, 118 MB of kernel) varied
 * 24–165 ms between runs; alone, it shows what the kernel costs without the rest of the graph's memory traffic.
 *   npx bun bench/lone-conv.ts [--cin 2560] [--cout 1280] [--hw 8] [--runs 15]
 * Prints min / median / max ms per variant, two rounds interleaved.
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { tensor } from '../common/tensor.ts';

const { values } = parseArgs({
  options: {
    cin: { type: 'string', default: '2560' },
    cout: { type: 'string', default: '1280' },
    hw: { type: 'string', default: '8' },
    runs: { type: 'string', default: '15' },
  },
});
const [cin, cout, hw, runs] = [values.cin, values.cout, values.hw, values.runs].map(Number);
const b = new GraphBuilder();
const x = b.input('x', 'float32', [1, cin, hw, hw]);
const w = b.initializer(
  'w',
  tensor(
    'float32',
    [cout, cin, 3, 3],
    Float32Array.from({ length: cout * cin * 9 }, (_, i) => Math.sin(i) * 0.01),
  ),
);
b.output(b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }), 'float32', null, 'y');
const bytes = encodeModel(b.toModel(17));
const feed = {
  x: new ort.Tensor(
    'float32',
    Float32Array.from({ length: cin * hw * hw }, (_, i) => Math.cos(i)),
    [1, cin, hw, hw],
  ),
};
const variants: Record<string, ort.InferenceSession.SessionOptions> = {
  defaults: {},
  noprepack: { extra: { session: { disable_prepacking: '1' } } },
  initdev: { extra: { session: { use_device_allocator_for_initializers: '1' } } },
  lean: {
    extra: { session: { disable_prepacking: '1', use_device_allocator_for_initializers: '1' } },
    enableMemPattern: false,
  },
  noarena: { enableCpuMemArena: false },
};
const results: Record<string, number[]> = {};
for (let round = 0; round < 2; round++)
  for (const [name, options] of Object.entries(variants)) {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], ...options });
    for (let i = 0; i < 3; i++) await s.run(feed);
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await s.run(feed);
      (results[name] ??= []).push(performance.now() - t);
    }
    await s.release();
  }
console.log(
  `Conv ${cin} → ${cout} channels, 3×3, ${hw}×${hw}, kernel ${((cout * cin * 9 * 4) / 2 ** 20).toFixed(0)} MiB`,
);
const summary = Object.fromEntries(
  Object.entries(results).map(([name, ts]) => {
    const s = [...ts].sort((a, b) => a - b);
    return [name, { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] }];
  }),
);
for (const [name, r] of Object.entries(summary))
  console.log(`${name.padEnd(10)} min ${r.min.toFixed(2)}  median ${r.median.toFixed(2)}  max ${r.max.toFixed(2)} ms`);
console.log(JSON.stringify({ bench: 'lone-conv', cin, cout, hw, ...summary }));
