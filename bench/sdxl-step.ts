/**
 * An SDXL textual-inversion step — both text encoders (CLIP-L and OpenCLIP bigG sizes, 123.1 M and 694.7 M
 * parameters), the SDXL base UNet (2,567,463,684 parameters), random weights built by the project — at 64×64 latents,
 * against onnxruntime's forward of the same UNet. Each measurement runs in its own process so its peak RSS is its own.
 *   npx bun bench/sdxl-step.ts --scale 0.125   (a width-scaled model: every depth, head count and the 49408-token
 *                                               vocabulary kept; widths × scale; builds once into .cache/models)
 *   npx bun bench/sdxl-step.ts --no-alternate --lowmem   (or --lean [--cache]: the step's optimised graph kept
 *                                              between runs as `train` keeps it)
 *                                              (full size, --scale 1: float32 weights alone are ≈ 13.5 GB, so the
 *                                               step's process does not open a second UNet to alternate with, and
 *                                               neither session keeps pre-packed weight copies)
 * `--scale s` sets the attention head width to 64·s (a multiple of 8): UNet levels 320s/640s/1280s channels, text
 * widths 768s and 1280s, time-id embedding 256s, GroupNorm groups the largest divisor of 32 that fits.
 * Prints, for the forward and the step: time (best of SDXL_RUNS, default 2), session open time, peak RSS, CPU time,
 * and the step/forward ratio — from the two processes, and from the two alternated in the step's process (after its
 * peak RSS is read), which is the one to trust on a shared machine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openGraph } from '../adapters/graph-session.ts';
import { trainGraphCache } from '../adapters/train-deps.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { readFile } from '../adapters/fs.ts';
import { cacheDir } from '../adapters/project-paths.ts';
import { createRng } from '../common/numerics/rng.ts';
import { tensor } from '../common/tensor.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import type { BuiltModel } from '../weights/tiny/built-model.ts';
import { maxRssGiB, writeBuiltModel } from './built-model-files.ts';
import { buildTextEncoder, type TextEncoderConfig } from '../weights/tiny/text-encoder.ts';
import { buildUnet } from '../weights/tiny/unet.ts';
import { sdxlUnetConfig, type UnetConfig } from '../weights/tiny/unet-config.ts';
import { buildTrainGraphXl, trainInputsXl as I, xlInitializerFolder } from '../weights/training/train-graph-xl.ts';

const flag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const mode = process.argv[2]?.startsWith('--') ? 'all' : (process.argv[2] ?? 'all');
const scale = Number(flag('scale') ?? 1);
const noAlternate = process.argv.includes('--no-alternate');
// --lowmem: both sessions without pre-packed weight copies or the CPU arena.
const lowMemory = process.argv.includes('--lowmem');
// --lean: both sessions in lean-memory mode (arena kept; no pre-packing, initialisers outside the arena, no memory
// pattern: what `train` picks above 1 GiB).
const leanMemory = process.argv.includes('--lean');
// --cache: the step's optimised graph kept between runs as `train` keeps it (trainGraphCache): the first run saves
// it, later ones reopen it.
const cached = process.argv.includes('--cache');
if (!(scale > 0 && scale <= 1)) throw new Error(`--scale must be in (0, 1], got ${flag('scale')}`);
const latent = 64;
const headWidth = Math.max(8, 8 * Math.round((64 * scale) / 8));
const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

const widths = sdxlUnetConfig.blockOutChannels.map((_, i) => (sdxlUnetConfig.heads as number[])[i] * headWidth);
const [w1, w2] = [12 * headWidth, 20 * headWidth];
const unetConfig: UnetConfig = {
  ...sdxlUnetConfig,
  blockOutChannels: widths,
  normGroups: widths.reduce(gcd, 32),
  crossAttentionDim: w1 + w2,
  addition: { textEmbedsDim: w2, timeEmbedDim: Math.max(8, 8 * Math.round((256 * scale) / 8)) },
};
const text = { vocabSize: 49408, maxPositions: 77, eps: 1e-5, hiddenStates: true, pooling: 'argmax' as const };
const clipL: TextEncoderConfig = {
  ...text,
  hiddenSize: w1,
  layers: 12,
  heads: 12,
  intermediateSize: 4 * w1,
  hiddenAct: 'quick_gelu',
};
const bigG: TextEncoderConfig = {
  ...text,
  hiddenSize: w2,
  layers: 32,
  heads: 20,
  intermediateSize: 4 * w2,
  hiddenAct: 'gelu',
  projectionDim: w2,
};
const dir = join(cacheDir(), 'models', `sdxl-random-${headWidth}`);

const write = (sub: string, m: BuiltModel) => writeBuiltModel(dir, sub, m);
const cpu = () => {
  const u = process.resourceUsage();
  return { userS: u.userCPUTime / 1e6, sysS: u.systemCPUTime / 1e6 };
};
const runs = Number(process.env.SDXL_RUNS ?? 2);
const best = async (run: () => Promise<unknown>) => {
  await run();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return Math.min(...times);
};

if (mode === 'build') {
  const t = performance.now();
  const parameters = {
    unet: write('unet', buildUnet(unetConfig, { seed: 0 })),
    textEncoder: write('text_encoder', buildTextEncoder(clipL, { seed: 0, externalData: 'model.onnx_data' })),
    textEncoder2: write('text_encoder_2', buildTextEncoder(bigG, { seed: 1, externalData: 'model.onnx_data' })),
  };
  console.log(JSON.stringify({ mode, parameters, seconds: (performance.now() - t) / 1000 }));
  process.exit(0);
}

const rng = createRng(0);
const B = 1;
const sample = tensor('float32', [B, 4, latent, latent], rng.fillNormal(new Float32Array(4 * latent * latent)));
const timestep = tensor('float32', [B], Float32Array.of(500));
const timeIds = tensor('float32', [B, 6], Float32Array.of(1024, 1024, 0, 0, 1024, 1024));
/** The UNet forward's inputs: random text conditioning of SDXL's widths. */
const unetFeeds = () => ({
  sample,
  timestep,
  encoder_hidden_states: tensor('float32', [B, 77, w1 + w2], rng.fillNormal(new Float32Array(77 * (w1 + w2)))),
  text_embeds: tensor('float32', [B, w2], rng.fillNormal(new Float32Array(w2))),
  time_ids: timeIds,
});

if (mode === 'forward') {
  const t0 = performance.now();
  const s = await ortSessionFactory.create(join(dir, 'unet', 'model.onnx'), { lowMemory, leanMemory });
  const openSessionMs = performance.now() - t0;
  const feeds = unetFeeds();
  const ms = await best(() => s.run(feeds));
  console.log(JSON.stringify({ mode, ms, openSessionMs, peakRssGiB: maxRssGiB(), ...cpu() }));
  process.exit(0);
}

if (mode === 'step') {
  const t0 = performance.now();
  const read = (sub: string) => decodeModel(readFile(join(dir, sub, 'model.onnx')));
  const graph = buildTrainGraphXl(
    injectVectors(read('text_encoder')),
    injectVectors(read('text_encoder_2')),
    read('unet'),
    { latent: [4, latent, latent], sequence: 77 },
  );
  const built = performance.now();
  const said: string[] = [];
  const cache = cached ? trainGraphCache(graph, 'cpu', (m) => said.push(m)) : undefined;
  const s = await openGraph(
    graph,
    (init, loc) => join(dir, xlInitializerFolder(init), loc),
    { lowMemory, leanMemory },
    cache,
  );
  for (const m of said) console.error(`cache: ${m}`);
  const opened = performance.now();
  const peakOpenGiB = maxRssGiB();
  const ids = new Int32Array(77).fill(49407);
  ids[0] = 49406;
  ids[1] = 49408; // the learned token
  const feeds = {
    [I.ids]: tensor('int32', [B, 77], ids),
    [I.ids2]: tensor('int32', [B, 77], ids),
    [I.vectors]: tensor(
      'float32',
      [1, w1],
      rng.fillNormal(new Float32Array(w1)).map((x) => x * 0.02),
    ),
    [I.vectors2]: tensor(
      'float32',
      [1, w2],
      rng.fillNormal(new Float32Array(w2)).map((x) => x * 0.02),
    ),
    [I.latents]: sample,
    [I.timestep]: timestep,
    [I.timeIds]: timeIds,
    [I.target]: tensor('float32', [B, 4, latent, latent], rng.fillNormal(new Float32Array(4 * latent * latent))),
    [I.weights]: tensor('float32', [B], Float32Array.of(1)),
  };
  const ms = await best(() => s.run(feeds));
  const peakStepGiB = maxRssGiB();
  const report = (alternated: { forwardMs: number; stepMs: number } | null) =>
    console.log(
      JSON.stringify({
        mode,
        ms,
        alternated,
        buildGraphMs: built - t0,
        openSessionMs: opened - built,
        nodes: graph.graph.nodes.length,
        peakOpenGiB,
        peakRssGiB: peakStepGiB,
        ...cpu(),
      }),
    );
  // --no-alternate: a second copy of the UNet's weights would not fit beside the step's (full size on 24 GiB).
  if (noAlternate) {
    report(null);
    process.exit(0);
  }
  // The machine may be shared: the ratio is also measured with the UNet forward opened here (after the step's peak
  // was read) and the two runs alternated, so both see the same load.
  const unet = await ortSessionFactory.create(join(dir, 'unet', 'model.onnx'), { lowMemory, leanMemory });
  const forwardFeeds = unetFeeds();
  const pairs: number[][] = [];
  await unet.run(forwardFeeds);
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    await unet.run(forwardFeeds);
    const b = performance.now();
    await s.run(feeds);
    pairs.push([b - a, performance.now() - b]);
  }
  report({ forwardMs: Math.min(...pairs.map((p) => p[0])), stepMs: Math.min(...pairs.map((p) => p[1])) });
  process.exit(0);
}

// all: build if needed, then each measurement in its own process.
const self = (m: string) => {
  const extra = [
    ...(noAlternate ? ['--no-alternate'] : []),
    ...(lowMemory ? ['--lowmem'] : []),
    ...(leanMemory ? ['--lean'] : []),
    ...(cached ? ['--cache'] : []),
  ];
  const p = Bun.spawnSync([process.execPath, import.meta.path, m, '--scale', String(scale), ...extra], {
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const line = p.stdout.toString().trim().split('\n').at(-1) ?? '{}';
  console.log(line);
  return JSON.parse(line);
};
if (!existsSync(join(dir, 'text_encoder_2', 'model.onnx'))) self('build');
const fwd = self('forward');
const step = self('step');
console.log(
  `scale ${scale} (head width ${headWidth}; UNet ${widths.join('/')}, text ${w1} + ${w2}), latents ${latent}×${latent}\n` +
    `UNet forward ${(fwd.ms / 1000).toFixed(2)} s (peak ${fwd.peakRssGiB.toFixed(2)} GiB)\n` +
    `training step (both encoders + UNet + loss + gradients) ${(step.ms / 1000).toFixed(2)} s ` +
    `(graph ${step.nodes} nodes built in ${(step.buildGraphMs / 1000).toFixed(1)} s, session open ` +
    `${(step.openSessionMs / 1000).toFixed(1)} s, peak ${step.peakRssGiB.toFixed(2)} GiB)\n` +
    `→ step/forward ${(step.ms / fwd.ms).toFixed(2)} (separate processes)` +
    (step.alternated
      ? `; alternated in one process: forward ${(step.alternated.forwardMs / 1000).toFixed(2)} s, step ` +
        `${(step.alternated.stepMs / 1000).toFixed(2)} s → ` +
        `${(step.alternated.stepMs / step.alternated.forwardMs).toFixed(2)}`
      : ' (--no-alternate: not alternated)'),
);
console.log(
  JSON.stringify({
    bench: 'sdxl-step',
    scale,
    headWidth,
    latent,
    forwardMs: fwd.ms,
    stepMs: step.ms,
    ratio: step.ms / fwd.ms,
    alternated: step.alternated,
    alternatedRatio: step.alternated ? step.alternated.stepMs / step.alternated.forwardMs : null,
    forwardPeakRssGiB: fwd.peakRssGiB,
    stepPeakRssGiB: step.peakRssGiB,
    stepGraphNodes: step.nodes,
    buildGraphMs: step.buildGraphMs,
    openSessionMs: step.openSessionMs,
    forwardOpenSessionMs: fwd.openSessionMs,
    lowMemory,
    leanMemory,
    cached,
  }),
);
