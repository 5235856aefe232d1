/**
 * A textual-inversion step on an SD1.5-size model (UNet 859.5 M parameters, CLIP ViT-L-size text encoder, random
 * weights built by the project) at 64×64 latents, against onnxruntime's forward of the same UNet. Each measurement
 * runs in its own process so its peak RSS is its own. Not in CI (it writes ~4 GB and takes minutes).
 *   npx bun bench/sd15-step.ts            (build once into .cache/models/sd15-random, then measure)
 * That command opens the step's session as `train` does (adapters/train-deps.ts trainSessionOptions: lean-memory
 * mode at this size) and the forward's with onnxruntime's defaults, with the process's own malloc settings (bun is
 * started directly, not through bin/pseudoword.js, which sets MALLOC_MMAP_THRESHOLD_/MALLOC_ARENA_MAX). Other settings
 * are named in the environment and printed with the figures: SD15_VARIANT=fast (what `train --memory fast` opens:
 * weights/training/memory-mode.ts), ortdefaults (onnxruntime's default
 * sessions for the step too), lowmem (no prepacking, no CPU arena), noprepack
 * (no prepacking, arena kept), prepack (pre-packing kept in lean-memory mode), initdev (session.use_device_allocator_for_initializers=1: initialisers and folded
 * constants outside the arena), nomempattern (enableMemPattern false), convT,
 * flipstep, flipconv (every stride-1 conv's input gradient through a folded flipped kernel), keepattn, wholeattn (attention not split over heads), split4 (split down to 4 MiB of scores: 32×32 too), nocache (the step's optimised graph
 * neither reused nor saved; by default it is, as `train` does: the first run saves it, later runs reopen it — the
 * printed `optimised graph` says which); SD15_RUNS (timed step runs, default 2); the malloc environment (MALLOC_*_, LD_PRELOAD of
 * another allocator), printed as given.
 * SD15_ALTERNATE=N: no separate forward process; the step's process, after its own measurements (peak RSS read
 * before), opens the forward session (onnxruntime's defaults) and runs N forward/step pairs alternately, so the
 * ratio is of runs under the same load; the text encoder's forward (its own session) is timed between them, for the
 * issue's ratio to the UNet and text-encoder forward.
 * Prints, for the forward and the step: time (best run), session open time, peak RSS, user and system CPU time.
 * Goals (issue 20): step ≤ 2.2 × UNet forward; peak RSS ≤ 9 GiB; step session open ≤ 2 × the forward's.
 */
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { cacheDir } from '../adapters/project-paths.ts';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { openGraph } from '../adapters/graph-session.ts';
import { trainGraphCache, trainSessionOptions } from '../adapters/train-deps.ts';
import { gradOptionsFor } from '../weights/training/memory-mode.ts';
import { buildUnet } from '../weights/tiny/unet.ts';
import { sd15UnetConfig } from '../weights/tiny/unet-config.ts';
import { buildTextEncoder } from '../weights/tiny/text-encoder.ts';
import type { BuiltModel } from '../weights/tiny/built-model.ts';
import { maxRssGiB, writeBuiltModel } from './built-model-files.ts';
import { decodeModel } from '../weights/onnx/proto.ts';
import { readFile } from '../adapters/fs.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { buildTrainGraph, trainInputs } from '../weights/training/train-graph.ts';
import type { GradOptions } from '../weights/autodiff/grad-emitter.ts';
import { createRng } from '../common/numerics/rng.ts';
import { tensor } from '../common/tensor.ts';

const dir = join(cacheDir(), 'models', 'sd15-random');
const mode = process.argv[2] ?? 'all';
const latent = 64;
const clipL = {
  vocabSize: 49408,
  hiddenSize: 768,
  layers: 12,
  heads: 12,
  intermediateSize: 3072,
  maxPositions: 77,
  eps: 1e-5,
};

const write = (sub: string, m: BuiltModel) => writeBuiltModel(dir, sub, m);
/** User and system CPU seconds this process has used (all threads). */
const cpu = () => {
  const u = process.resourceUsage();
  return { userS: u.userCPUTime / 1e6, sysS: u.systemCPUTime / 1e6 };
};
/**
 * CPU seconds (user + system, all threads) since `from`: a run's cost that other load on a shared machine inflates
 * much less than its wall time (onnxruntime's spinning worker threads still count).
 */
const cpuSince = (from: { userS: number; sysS: number }) => {
  const now = cpu();
  return now.userS - from.userS + now.sysS - from.sysS;
};
/** The malloc settings this measurement ran with, as the environment gave them. */
const mallocEnv = Object.fromEntries(
  [
    'MALLOC_MMAP_THRESHOLD_',
    'MALLOC_ARENA_MAX',
    'MALLOC_TRIM_THRESHOLD_',
    'MALLOC_TOP_PAD_',
    'MALLOC_MMAP_MAX_',
    'MALLOC_CONF',
    'GLIBC_TUNABLES',
  ]
    .map((k) => [k, process.env[k] ?? null] as const)
    .concat([['LD_PRELOAD', process.env.LD_PRELOAD?.split('/').at(-1) ?? null]]),
);
const alternate = Number(process.env.SD15_ALTERNATE ?? 0);

if (mode === 'build') {
  const t = performance.now();
  write('unet', buildUnet(sd15UnetConfig, { seed: 0 }));
  write('text_encoder', buildTextEncoder(clipL, { seed: 0, externalData: 'model.onnx_data' }));
  console.log(JSON.stringify({ mode, seconds: (performance.now() - t) / 1000 }));
  process.exit(0);
}

const rng = createRng(0);
const sample = tensor('float32', [1, 4, latent, latent], rng.fillNormal(new Float32Array(4 * latent * latent)));
const hidden = tensor('float32', [1, 77, 768], rng.fillNormal(new Float32Array(77 * 768)));

if (mode === 'forward') {
  const t0 = performance.now();
  const s = await ortSessionFactory.create(join(dir, 'unet', 'model.onnx'));
  const openSessionMs = performance.now() - t0;
  const feeds = { sample, timestep: tensor('float32', [1], Float32Array.of(500)), encoder_hidden_states: hidden };
  await s.run(feeds);
  const times: number[] = [];
  const c0 = cpu();
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t);
  }
  const cpuPerRunS = cpuSince(c0) / times.length;
  console.log(
    JSON.stringify({ mode, ms: Math.min(...times), cpuPerRunS, openSessionMs, peakRssGiB: maxRssGiB(), ...cpu() }),
  );
  process.exit(0);
}

if (mode === 'step') {
  const t0 = performance.now();
  const te = injectVectors(decodeModel(readFile(join(dir, 'text_encoder', 'model.onnx'))));
  const unet = decodeModel(readFile(join(dir, 'unet', 'model.onnx')));
  const variant = process.env.SD15_VARIANT ?? '';
  // SD15_VARIANT words: lowmem (no prepacking, no CPU arena), convT / flipstep / flipconv (conv input-gradient form),
  // keepattn (keep attention probabilities instead of recomputing them; the default recomputes 64×64 and 32×32),
  // wholeattn (no split of the 64×64 attention over its heads).
  const grad: GradOptions = {
    ...(variant.includes('convT')
      ? { convInputGrad: 'conv-transpose' }
      : variant.includes('flipstep')
        ? { convInputGrad: 'flipped-conv-per-step' }
        : variant.includes('flipconv')
          ? { convInputGrad: 'flipped-conv' }
          : {}),
    ...(variant.includes('fast') ? gradOptionsFor('fast') : {}),
    ...(variant.includes('keepattn') ? { recomputeAttention: 'never' } : {}),
    ...(variant.includes('wholeattn') ? { splitAttention: 'never' } : {}),
    ...(variant.includes('split4') ? { splitAttention: 4 * 2 ** 20 } : {}),
  };
  const graph = buildTrainGraph(te.model, unet, { latent: [4, latent, latent], sequence: 77, grad });
  const built = performance.now();
  // Session knobs SessionOptions does not carry: added to what ortSessionOptions makes, for this session only.
  const knobs: Record<string, unknown> = {
    ...(variant.includes('nomempattern') ? { enableMemPattern: false } : {}),
  };
  const config: Record<string, string> = {
    ...(variant.includes('initdev') ? { use_device_allocator_for_initializers: '1' } : {}),
  };
  const create = ort.InferenceSession.create;
  (ort.InferenceSession as any).create = (path: string, o: ort.InferenceSession.SessionOptions) =>
    (create as any).call(ort.InferenceSession, path, {
      ...o,
      ...knobs,
      extra: { ...o.extra, session: { ...(o.extra?.session as object), ...config } },
    });
  // The product's choice (trainSessionOptions: lean memory for a model this size) unless a variant names another.
  const options = variant.includes('lowmem')
    ? { lowMemory: true }
    : variant.includes('ortdefaults')
      ? {}
      : trainSessionOptions(graph, 'cpu', variant.includes('fast') ? 'fast' : 'auto');
  // The optimised step graph is kept between runs as `train` keeps it (trainGraphCache), for the default settings:
  // a variant's knobs above are not part of the cache's key. `nocache` opens without it.
  const said: string[] = [];
  const cache =
    variant.includes('nocache') || Object.keys(knobs).length || Object.keys(config).length
      ? undefined
      : trainGraphCache(graph, 'cpu', (m) => said.push(m), variant.includes('fast') ? 'fast' : 'auto');
  const s = await openGraph(
    graph,
    (init, loc) => join(dir, init.startsWith('te/') ? 'text_encoder' : 'unet', loc),
    {
      ...options,
      ...(variant.includes('noprepack')
        ? { prepacking: false }
        : variant.includes('prepack')
          ? { prepacking: true }
          : {}),
    },
    cache,
  );
  const cacheUse = !cache
    ? 'off'
    : said.some((m) => m.includes('earlier run'))
      ? 'reused'
      : said.some((m) => m.startsWith('saving'))
        ? 'saved'
        : 'refused';
  (ort.InferenceSession as any).create = create;
  const opened = performance.now();
  // maxRSS at each phase: tells a peak reached while opening the session (initializers copied, constants folded)
  // from one reached in a run.
  const peakOpenGiB = maxRssGiB();
  const rssOpenGiB = process.memoryUsage().rss / 2 ** 30;
  const ids = new Int32Array(77).fill(49407);
  ids[0] = 49406;
  ids[1] = 49408; // the learned token
  const feeds = {
    [trainInputs.ids]: tensor('int32', [1, 77], ids),
    [trainInputs.vectors]: tensor(
      'float32',
      [1, 768],
      rng.fillNormal(new Float32Array(768)).map((x) => x * 0.02),
    ),
    [trainInputs.latents]: sample,
    [trainInputs.timestep]: tensor('float32', [1], Float32Array.of(500)),
    [trainInputs.target]: tensor(
      'float32',
      [1, 4, latent, latent],
      rng.fillNormal(new Float32Array(4 * latent * latent)),
    ),
    [trainInputs.weights]: tensor('float32', [1], Float32Array.of(1)),
  };
  await s.run(feeds);
  const peakFirstRunGiB = maxRssGiB();
  const times: number[] = [];
  const c0 = cpu();
  for (let i = 0; i < Number(process.env.SD15_RUNS ?? 2); i++) {
    const t = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t);
  }
  const cpuPerRunS = cpuSince(c0) / times.length;
  const peakRssGiB = maxRssGiB();
  // Alternated with the forward in this process: same load for both.
  const alt: Record<string, number> = {};
  if (alternate) {
    const f0 = performance.now();
    const f = await ortSessionFactory.create(join(dir, 'unet', 'model.onnx'));
    alt.forwardOpenSessionMs = performance.now() - f0;
    const fFeeds = { sample, timestep: tensor('float32', [1], Float32Array.of(500)), encoder_hidden_states: hidden };
    await f.run(fFeeds);
    // The denominator is the UNet and text-encoder forward: the text encoder's (its own session, onnxruntime's
    // defaults) is timed beside them.
    const te = await ortSessionFactory.create(join(dir, 'text_encoder', 'model.onnx'));
    // The learned token's id is past the base vocabulary: a word's id stands in for it (the same cost).
    const teFeeds = {
      input_ids: tensor(
        'int32',
        [1, 77],
        ids.map((id) => (id === 49408 ? 320 : id)),
      ),
    };
    await te.run(teFeeds);
    const enc: number[][] = [];
    // Wall ms, CPU s, minor and major page faults of each run.
    const fwd: number[][] = [];
    const stp: number[][] = [];
    const timed = async (run: () => Promise<unknown>) => {
      const t = performance.now();
      const c = cpu();
      const pf = process.resourceUsage();
      await run();
      const u = process.resourceUsage();
      return [
        performance.now() - t,
        cpuSince(c),
        u.minorPageFault - pf.minorPageFault,
        u.majorPageFault - pf.majorPageFault,
      ];
    };
    for (let i = 0; i < alternate; i++) {
      fwd.push(await timed(() => f.run(fFeeds)));
      enc.push(await timed(() => te.run(teFeeds)));
      stp.push(await timed(() => s.run(feeds)));
    }
    const best = (rs: number[][], k: number) => Math.min(...rs.map((r) => r[k]));
    alt.forwardMs = best(fwd, 0);
    alt.stepMs = best(stp, 0);
    alt.ratio = alt.stepMs / alt.forwardMs;
    alt.textEncoderMs = best(enc, 0);
    alt.ratioWithTextEncoder = alt.stepMs / (alt.forwardMs + alt.textEncoderMs);
    alt.forwardCpuS = best(fwd, 1);
    alt.stepCpuS = best(stp, 1);
    alt.cpuRatio = alt.stepCpuS / alt.forwardCpuS;
    alt.stepMinorFaults = best(stp, 2);
    alt.forwardMinorFaults = best(fwd, 2);
    alt.stepMajorFaults = best(stp, 3);
    console.error(JSON.stringify({ alternated: { forward: fwd, textEncoder: enc, step: stp } }));
  }
  console.log(
    JSON.stringify({
      mode,
      variant,
      cache: cacheUse,
      alt,
      ms: Math.min(...times),
      cpuPerRunS,
      buildGraphMs: built - t0,
      openSessionMs: opened - built,
      nodes: graph.graph.nodes.length,
      peakRssGiB,
      peakOpenGiB,
      rssOpenGiB,
      peakFirstRunGiB,
      ...cpu(),
    }),
  );
  process.exit(0);
}

// all: build if needed, then each measurement in its own process.
const self = (m: string) => {
  const p = Bun.spawnSync([process.execPath, import.meta.path, m], { stdout: 'pipe', stderr: 'inherit' });
  const line = p.stdout.toString().trim().split('\n').at(-1) ?? '{}';
  console.log(line);
  return JSON.parse(line);
};
if (!existsSync(join(dir, 'unet', 'model.onnx'))) self('build');
const separate = alternate ? undefined : self('forward');
const step = self('step');
const fwd = separate ?? {
  ms: step.alt.forwardMs,
  openSessionMs: step.alt.forwardOpenSessionMs,
  peakRssGiB: Number.NaN,
  cpuPerRunS: step.alt.forwardCpuS,
  userS: Number.NaN,
  sysS: Number.NaN,
};
// Alternated: the step's figures are its alternated runs; the forward has no process (peak, CPU totals) of its own.
if (alternate) Object.assign(step, { ms: step.alt.stepMs, cpuPerRunS: step.alt.stepCpuS });
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `settings: SD15_VARIANT=${process.env.SD15_VARIANT ?? ''} malloc ${JSON.stringify(mallocEnv)}\n` +
    `UNet forward ${(fwd.ms / 1000).toFixed(2)} s (open ${sec(fwd.openSessionMs)}, peak ${fwd.peakRssGiB.toFixed(2)} GiB, ` +
    `cpu user ${fwd.userS.toFixed(0)} s sys ${fwd.sysS.toFixed(0)} s)\n` +
    `training step ${(step.ms / 1000).toFixed(2)} s (open ${sec(step.openSessionMs)}, optimised graph ${step.cache}, peak ${step.peakRssGiB.toFixed(2)} GiB, ` +
    `cpu user ${step.userS.toFixed(0)} s sys ${step.sysS.toFixed(0)} s)\n` +
    `→ step/forward ${(step.ms / fwd.ms).toFixed(2)} (goal ≤ 2.2; in CPU seconds per run ${step.cpuPerRunS.toFixed(1)} / ${fwd.cpuPerRunS.toFixed(1)} = ${(step.cpuPerRunS / fwd.cpuPerRunS).toFixed(2)}); peak ${step.peakRssGiB.toFixed(2)} GiB (goal ≤ 9); ` +
    `open ratio ${(step.openSessionMs / fwd.openSessionMs).toFixed(1)} (goal ≤ 2)` +
    (alternate
      ? `\ntext encoder forward ${(step.alt.textEncoderMs / 1000).toFixed(2)} s → step / (UNet + text encoder forward) ` +
        `${step.alt.ratioWithTextEncoder.toFixed(2)} (the issue's goal ≤ 2.2)`
      : ''),
);
console.log(
  JSON.stringify({
    bench: 'sd15-step',
    latent,
    forwardMs: fwd.ms,
    stepMs: step.ms,
    ratio: step.ms / fwd.ms,
    textEncoderMs: step.alt.textEncoderMs ?? null,
    ratioWithTextEncoder: step.alt.ratioWithTextEncoder ?? null,
    cpuRatio: step.cpuPerRunS / fwd.cpuPerRunS,
    forwardPeakRssGiB: fwd.peakRssGiB,
    stepPeakRssGiB: step.peakRssGiB,
    stepGraphNodes: step.nodes,
    openSessionMs: step.openSessionMs,
    forwardOpenSessionMs: fwd.openSessionMs,
    forwardCpu: { userS: fwd.userS, sysS: fwd.sysS },
    stepCpu: { userS: step.userS, sysS: step.sysS },
    variant: process.env.SD15_VARIANT ?? '',
    malloc: mallocEnv,
  }),
);
