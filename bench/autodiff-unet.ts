/**
 * Forward-only vs forward+backward on a UNet-shaped model (bench/autodiff-unet-model.ts), gradient with respect to
 * `encoder_hidden_states` as in textual inversion. Times both sessions interleaved in one process and prints the
 * ratio (goal ≤ 2.2); peak memory of each is measured in a child process of its own (VmHWM).
 *
 *   npx bun bench/autodiff-unet.ts [--runs 7] [--batch 2]
 *
 * The last line is JSON: { forwardMs, forwardBackwardMs, ratio, peakMiB: { baseline, forward, forwardBackward,
 * forwardBackwardKeepAll }, … }.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { differentiate } from '../weights/autodiff/differentiate.ts';
import { createRng } from '../common/numerics/rng.ts';
import { encodeModel } from '../weights/onnx/proto.ts';
import { float32, type Tensor } from '../common/tensor.ts';
import { benchSize, unetLikeModel } from './autodiff-unet-model.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('runs', 7);
const batch = arg('batch', 2);
const mode = process.argv.includes('--child') ? process.argv[process.argv.indexOf('--child') + 1] : undefined;

const s = benchSize;
const r = createRng(3);
const rand = (dims: number[]) =>
  float32(
    dims,
    Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => r.normal()),
  );
const feeds: Record<string, Tensor> = {
  sample: rand([batch, 4, s.hw, s.hw]),
  timestep: float32(
    [batch],
    Array.from({ length: batch }, (_, i) => 100 + 300 * i),
  ),
  encoder_hidden_states: rand([batch, s.ctxLen, s.ctxDim]),
  target: rand([batch, 4, s.hw, s.hw]),
};
const forwardModel = unetLikeModel();
const models = {
  forward: () => encodeModel(forwardModel),
  forwardBackward: () => encodeModel(differentiate(forwardModel, { of: 'loss', wrt: ['encoder_hidden_states'] })),
  // the same without rematerialisation, to show what recomputing cheap values saves
  forwardBackwardKeepAll: () =>
    encodeModel(differentiate(forwardModel, { of: 'loss', wrt: ['encoder_hidden_states'], recompute: false })),
};
const peakMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

if (mode) {
  // Child: build one session, run it, report this process's peak resident memory.
  if (mode !== 'baseline') {
    const session = await ortSessionFactory.create(models[mode as keyof typeof models]());
    for (let i = 0; i < 2; i++)
      await session.run(feeds, mode === 'forward' ? ['loss'] : ['loss', 'encoder_hidden_states_grad']);
  }
  console.log(JSON.stringify({ peakMiB: peakMiB() }));
} else {
  const fwd = await ortSessionFactory.create(models.forward());
  const bwdBytes = models.forwardBackward();
  const both = await ortSessionFactory.create(bwdBytes);
  const time = async (run: () => Promise<unknown>) => {
    const t = performance.now();
    await run();
    return performance.now() - t;
  };
  const f = () => fwd.run(feeds, ['loss']);
  const fb = () => both.run(feeds, ['loss', 'encoder_hidden_states_grad']);
  for (let i = 0; i < 2; i++) await f(), await fb(); // warm-up
  const tf: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    tf.push(await time(f));
    tb.push(await time(fb));
  }
  const child = (m: string) => {
    const out = spawnSync(process.execPath, [process.argv[1], '--child', m, '--batch', String(batch)], {
      encoding: 'utf8',
    });
    return JSON.parse(out.stdout.trim().split('\n').pop()!).peakMiB as number;
  };
  const peak = {
    baseline: child('baseline'),
    forward: child('forward'),
    forwardBackward: child('forwardBackward'),
    forwardBackwardKeepAll: child('forwardBackwardKeepAll'),
  };
  const nodes = {
    forward: forwardModel.graph.nodes.length,
    forwardBackward: (await import('../weights/onnx/proto.ts')).decodeModel(bwdBytes).graph.nodes.length,
  };
  const result = {
    bench: 'autodiff-unet',
    batch,
    size: s,
    runs,
    forwardMs: +median(tf).toFixed(1),
    forwardBackwardMs: +median(tb).toFixed(1),
    ratio: +(median(tb) / median(tf)).toFixed(3),
    goal: 2.2,
    peakMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, +v.toFixed(0)])),
    nodes,
  };
  console.log(
    `forward ${result.forwardMs} ms, forward+backward ${result.forwardBackwardMs} ms, ratio ${result.ratio} (goal ≤ 2.2)`,
  );
  const p = result.peakMiB;
  console.log(
    `peak RSS: baseline ${p.baseline} MiB, forward ${p.forward} MiB, forward+backward ${p.forwardBackward} MiB (${p.forwardBackwardKeepAll} MiB without recomputation)`,
  );
  console.log(JSON.stringify(result));
}
