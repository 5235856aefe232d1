/**
 * Does any malloc keep onnxruntime's freed activation memory between runs when its CPU arena is off (low-memory
 * mode)? A chain of elementwise ops over 256 MiB float32 tensors, run 4 times; prints, per run, the MiB of fresh
 * pages the kernel handed the process (minor page faults × 4 KiB), the run's ms and the RSS after it in MiB.
 *   npx bun bench/alloc-faults.ts noarena|arena [nomp]      (nomp: enableMemPattern false)
 * Put the malloc under test in the environment (MALLOC_MMAP_THRESHOLD_, MALLOC_MMAP_MAX_, MALLOC_TRIM_THRESHOLD_,
 * or LD_PRELOAD=…/libjemalloc.so.2 with MALLOC_CONF); the line printed names what was set.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { encodeModel } from '../weights/onnx/proto.ts';

const n = 64 * 1024 * 1024;
const b = new GraphBuilder();
const x = b.input('x', 'float32', [n]);
let y = x;
for (let i = 0; i < 4; i++) y = b.op('Mul', [b.op('Add', [y, x]), x]);
b.output(b.op('ReduceSum', [y]), 'float32', [1], 'y');
const arena = process.argv[2] === 'arena';
const s = await ort.InferenceSession.create(encodeModel(b.toModel(17)), {
  enableCpuMemArena: arena,
  enableMemPattern: process.argv[3] !== 'nomp',
});
const feeds = { x: new ort.Tensor('float32', new Float32Array(n).fill(1), [n]) };
const runs: string[] = [];
for (let i = 0; i < 4; i++) {
  const pf = process.resourceUsage().minorPageFault;
  const t = performance.now();
  await s.run(feeds);
  const fresh = ((process.resourceUsage().minorPageFault - pf) * 4) / 1024;
  runs.push(
    `${fresh.toFixed(0)} MiB, ${(performance.now() - t).toFixed(0)} ms, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)}`,
  );
}
const env = [
  'MALLOC_MMAP_THRESHOLD_',
  'MALLOC_MMAP_MAX_',
  'MALLOC_TRIM_THRESHOLD_',
  'MALLOC_CONF',
  'GLIBC_TUNABLES',
  'LD_PRELOAD',
]
  .filter((k) => process.env[k])
  .map((k) => `${k}=${k === 'LD_PRELOAD' ? process.env[k]?.split('/').at(-1) : process.env[k]}`);
console.log(`${process.argv.slice(2).join(' ')} ${env.join(' ') || '(glibc defaults)'}: ${runs.join(' | ')}`);
