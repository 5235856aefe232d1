/**
 * Where a training step's time goes, from onnxruntime's own profiler: the step graph and the forward-only
 * composition of the same model, each opened with profiling on and its optimised graph saved, then
 *  - time per op type, split into the forward half (nodes of the composed forward) and the backward half (nodes
 *    the autodiff emitted: names with `/grad`, `grad/`, `recompute`),
 *  - the nodes the emitter added, per op type (step graph − forward graph), before and after onnxruntime's
 *    optimisations (what it fused or folded),
 *  - ms per run of each, side by side.
 *   npx bun bench/step-profile.ts [--model tiny|sd15] [--div 4] [--latent 32] [--runs 5] [--top 25] [--nodes TEXT]
 * Kernel times are means over the timed runs: the warm-up run each session makes when it opens (arena growth, first
 * touches of memory) is left out. `--nodes TEXT` also lists every step-graph node whose name contains TEXT, in
 * execution order, with its mean kernel ms and shapes (e.g. one attention's forward and backward, head by head).
 * `--model sd15` builds the SD1.5-shaped UNet and a CLIP-L-shaped text encoder with every width divided by `--div`
 * (heads kept; 8 → 40 channels per head at div 1) into .cache/models/sd15-div<N> (weights inline); `--div 1` uses the
 * full-size folder of `npx bun bench/sd15-step.ts build` (external weights).
 * Not in CI; run one at a time on a shared machine (div 1 needs ~15 GiB).
 */
import * as ort from 'onnxruntime-node';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openModel } from '../adapters/open-model.ts';
import { cacheDir } from '../adapters/project-paths.ts';
import { decodeModel, encodeModel, type Model } from '../weights/onnx/proto.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { buildTrainGraph, trainInputs } from '../weights/training/train-graph.ts';
import { buildUnet } from '../weights/tiny/unet.ts';
import { sd15UnetConfig } from '../weights/tiny/unet-config.ts';
import { buildTextEncoder } from '../weights/tiny/text-encoder.ts';
import type { GradOptions } from '../weights/autodiff/grad-emitter.ts';
import { relocateExternalTensorProto } from '../weights/onnx/tensor-proto.ts';
import { createRng } from '../common/numerics/rng.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny' },
    div: { type: 'string', default: '4' },
    latent: { type: 'string', default: '32' },
    runs: { type: 'string', default: '5' },
    top: { type: 'string', default: '25' },
    nodes: { type: 'string', default: '' },
    lowmem: { type: 'boolean', default: false },
    'no-pattern': { type: 'boolean', default: false },
    'no-arena': { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    keepattn: { type: 'boolean', default: false },
    /** GradOptions.convInputGrad: flipped-conv (default), flipped-conv-per-step, conv-transpose */
    conv: { type: 'string', default: 'flipped-conv' },
    opt: { type: 'string', default: 'all' },
    /** onnxruntime session config entries key=value (comma-separated), e.g. session.set_denormal_as_zero=1 */
    config: { type: 'string', default: '' },
    verbose: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const grad: GradOptions = {
  ...(values.keepattn ? { recomputeAttention: 'never' } : {}),
  convInputGrad: values.conv as NonNullable<GradOptions['convInputGrad']>,
};

/** The composed forward and step graphs with weights inline, and the input sizes. */
type Source = (init: string, location: string) => string;
const graphs = async (): Promise<{
  fwd: Model;
  step: Model;
  C: number;
  h: number;
  vocab: number;
  dim: number;
  source?: Source;
}> => {
  if (values.model === 'tiny') {
    const model = await openModel('tiny');
    const te = injectVectors(decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!));
    const unet = decodeModel((await model.files.readBytes('unet/model.onnx'))!);
    const h = model.info.resolution / model.info.vaeScale;
    const C = model.info.latentChannels;
    const o = { latent: [C, h, h] as [number, number, number], sequence: 77, grad };
    const dim = te.model.graph.inputs.find((i) => i.name === trainInputs.vectors)?.type?.shape?.[1];
    return {
      fwd: buildTrainGraph(te.model, unet, { ...o, forwardOnly: true }),
      step: buildTrainGraph(te.model, unet, o),
      C,
      h,
      vocab: model.tokenizer.vocabSize ?? 1000,
      dim: typeof dim === 'number' ? dim : 64,
      source: (init, loc) => model.files.path(`${init.startsWith('te/') ? 'text_encoder' : 'unet'}/${loc}`),
    };
  }
  const div = Number(values.div);
  const latent = Number(values.latent);
  /** The SD1.5-shaped pair from its two files: both graphs at `latent`, 77 tokens. */
  const sd15 = (tePath: string, unetPath: string, dim: number, source?: Source) => {
    const te = injectVectors(decodeModel(readFileSync(tePath)));
    const unet = decodeModel(readFileSync(unetPath));
    const o = { latent: [4, latent, latent] as [number, number, number], sequence: 77, grad };
    return {
      fwd: buildTrainGraph(te.model, unet, { ...o, forwardOnly: true }),
      step: buildTrainGraph(te.model, unet, o),
      C: 4,
      h: latent,
      vocab: 49408,
      dim,
      source,
    };
  };
  if (div === 1) {
    // Full size: the folder bench/sd15-step.ts builds (weights in external files; too big for one protobuf).
    const full = join(cacheDir(), 'models', 'sd15-random');
    if (!existsSync(join(full, 'unet', 'model.onnx'))) throw new Error('run `npx bun bench/sd15-step.ts build` first');
    return sd15(join(full, 'text_encoder', 'model.onnx'), join(full, 'unet', 'model.onnx'), 768, (init, loc) =>
      join(full, init.startsWith('te/') ? 'text_encoder' : 'unet', loc),
    );
  }
  const dir = join(cacheDir(), 'models', `sd15-div${div}`);
  const cfg = { ...sd15UnetConfig, blockOutChannels: sd15UnetConfig.blockOutChannels.map((c) => c / div) };
  const dim = 768 / div;
  const clip = { vocabSize: 49408, hiddenSize: dim, layers: 12, heads: 12, intermediateSize: 3072 / div };
  if (!existsSync(join(dir, 'unet.onnx'))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'unet.onnx'), buildUnet({ ...cfg, crossAttentionDim: dim }, { externalData: false }).model);
    writeFileSync(
      join(dir, 'text_encoder.onnx'),
      buildTextEncoder({ ...clip, maxPositions: 77, eps: 1e-5 }, { externalData: false }).model,
    );
  }
  return sd15(join(dir, 'text_encoder.onnx'), join(dir, 'unet.onnx'), dim);
};

const { fwd, step, C, h, vocab, dim, source } = await graphs();
const work = mkdtempSync(join(tmpdir(), 'pw-profile-'));
/** External initializers pointed at links in the work folder (onnxruntime reads them relative to the model). */
const place = (m: Model): Model => {
  if (!source) return m;
  const links = new Map<string, string>();
  const initializers = m.graph.initializers.map((t) => {
    if (!t.external) return t;
    const from = source(t.name, t.external.find((e) => e.key === 'location')?.value ?? '');
    let link = links.get(from);
    if (!link) {
      links.set(from, (link = `data_${links.size}`));
      if (!existsSync(join(work, link))) linkSync(from, join(work, link));
    }
    return relocateExternalTensorProto(t, link);
  });
  return { ...m, graph: { ...m.graph, initializers } };
};
const rng = createRng(0);
const ids = new Int32Array(77).fill(vocab - 1);
ids[1] = vocab; // the learned token (first row after the table)
const t = (dims: number[], data: Float32Array | Int32Array) => new ort.Tensor(data, dims);
const feeds = (names: string[]) =>
  Object.fromEntries(
    Object.entries({
      [trainInputs.ids]: t([1, 77], ids),
      [trainInputs.vectors]: t(
        [1, dim],
        rng.fillNormal(new Float32Array(dim)).map((x) => x * 0.02),
      ),
      [trainInputs.latents]: t([1, C, h, h], rng.fillNormal(new Float32Array(C * h * h))),
      [trainInputs.timestep]: t([1], Float32Array.of(500)),
      [trainInputs.target]: t([1, C, h, h], rng.fillNormal(new Float32Array(C * h * h))),
      [trainInputs.weights]: t([1], Float32Array.of(1)),
    }).filter(([k]) => names.includes(k)),
  );

const isBackward = (name: string) => /(^|\/)grad(\/|$)|recompute/.test(name);
const countOps = (m: Model, pick: (name: string) => boolean = () => true) => {
  const c: Record<string, number> = {};
  for (const n of m.graph.nodes)
    if (pick(n.name))
      c[n.domain ? `${n.domain}::${n.opType}` : n.opType] =
        (c[n.domain ? `${n.domain}::${n.opType}` : n.opType] ?? 0) + 1;
  return c;
};

interface Measured {
  msPerRun: number;
  openMs: number;
  byOp: Map<string, { fwd: number; bwd: number; count: number }>;
  optimised: Model;
  faultsPerRun: number;
}
/** --config entries (and lowmem's) as onnxruntime-node's nested `extra` (it joins the keys with '.'). */
const configEntries = () => {
  const entries = values.config
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('='));
  if (values.lowmem) entries.push(['session.disable_prepacking', '1']);
  const extra: Record<string, Record<string, string>> = {};
  for (const [k, v] of entries) {
    const [head, ...rest] = k.split('.');
    extra[head] = { ...extra[head], [rest.join('.')]: v };
  }
  return extra;
};
const merge = (a: Record<string, Record<string, string>>, b: Record<string, Record<string, string>>) =>
  Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, { ...a[k], ...b[k] }]));
const open = async (label: string, m: Model) => {
  const path = join(work, `${label}.onnx`);
  writeFileSync(path, encodeModel(place(m)));
  const optimisedPath = join(work, `${label}.optimised.onnx`);
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: values.opt as 'all',
    enableProfiling: !values['no-profile'],
    // Session knobs apply to the step alone: the forward is onnxruntime's default session, as in sd15-step.ts.
    ...(values['no-pattern'] && label === 'step' ? { enableMemPattern: false } : {}),
    ...(values['no-arena'] && label === 'step' ? { enableCpuMemArena: false } : {}),
    profileFilePrefix: join(work, label),
    optimizedModelFilePath: optimisedPath,
    ...(values.lowmem && label === 'step' ? { enableCpuMemArena: false } : {}),
    // The optimised graph is saved with its initialisers in a file beside it (a full-size graph passes protobuf's 2 GB).
    extra: merge(label === 'step' ? configEntries() : {}, {
      session: {
        optimized_model_external_initializers_file_name: `${label}.optimised.data`,
        optimized_model_external_initializers_min_size_in_bytes: '1024',
      },
    }),
    ...(values.verbose && label === 'step' ? { logSeverityLevel: 0 as const, logVerbosityLevel: 0 } : {}),
  });
  const openMs = performance.now() - t0;
  const f = feeds(session.inputNames as string[]);
  await session.run(f);
  return { label, session, openMs, run: () => session.run(f), optimisedPath, times: [] as number[], faults: 0 };
};
type Opened = Awaited<ReturnType<typeof open>>;

/** Ends profiling and reads the per-op kernel times, per timed run (the warm-up run left out). */
const finish = async (o: Opened): Promise<Measured> => {
  const { label } = o;
  if (!values['no-profile']) o.session.endProfiling();
  await o.session.release();
  const msPerRun = Math.min(...o.times);
  const openMs = o.openMs;
  const optimisedPath = o.optimisedPath;
  const file = readdirSync(work).find((x) => x.startsWith(label) && x.endsWith('.json'));
  const events = (file ? JSON.parse(readFileSync(join(work, file), 'utf8')) : []) as {
    cat: string;
    name: string;
    ts: number;
    dur: number;
    args?: { op_name?: string; input_type_shape?: unknown; output_type_shape?: unknown };
  }[];
  // The first `model_run` is the warm-up made at open; node events before its end are left out, and the rest are
  // divided by the number of runs after it.
  const modelRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const warmEnd = modelRuns.length ? modelRuns[0].ts + modelRuns[0].dur : -1;
  const timedRuns = Math.max(1, modelRuns.length - 1);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts > warmEnd);
  // Session events: loading and initialisation phases (where opening time goes).
  const phases = events.filter((e) => e.cat === 'Session' && !e.name.endsWith('_run') && e.name !== 'model_run');
  if (phases.length)
    console.log(
      `${label} session phases: ${phases.map((e) => `${e.name} ${(e.dur / 1000).toFixed(0)} ms`).join(', ')}`,
    );
  const byOp = new Map<string, { fwd: number; bwd: number; count: number }>();
  // Backward time by the forward node kind that emitted it (the name segment before '/grad', digits dropped).
  const bySource = new Map<string, number>();
  for (const e of kernels) {
    if (!isBackward(e.name)) continue;
    const seg =
      /([^/]+)\/grad\//.exec(e.name)?.[1]?.replace(/_\d+$/, '') ??
      (e.name.includes('recompute') ? 'recompute' : 'other');
    const key = `${seg} → ${e.args?.op_name}`;
    bySource.set(key, (bySource.get(key) ?? 0) + e.dur / 1000 / timedRuns);
  }
  if (label === 'step' && bySource.size)
    console.log(
      [...bySource.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 30)
        .map(([k, v]) => `  ${k}: ${v.toFixed(2)} ms`)
        .join('\n'),
    );
  if (label === 'step' && values.nodes) {
    // Per node, in execution order: mean kernel ms over the timed runs, op type, input → output shapes.
    const perNode = new Map<string, { ms: number; op: string; shapes: string }>();
    for (const e of kernels) {
      const name = e.name.slice(0, -'_kernel_time'.length);
      if (!name.includes(values.nodes)) continue;
      const r = perNode.get(name) ?? {
        ms: 0,
        op: e.args?.op_name ?? '?',
        shapes: `${JSON.stringify(e.args?.input_type_shape)} → ${JSON.stringify(e.args?.output_type_shape)}`,
      };
      r.ms += e.dur / 1000 / timedRuns;
      perNode.set(name, r);
    }
    console.log(`step nodes containing "${values.nodes}" (mean kernel ms per run):`);
    for (const [name, r] of perNode)
      console.log(`${r.ms.toFixed(2).padStart(9)}  ${r.op.padEnd(12)} ${name}  ${r.shapes.replace(/"float"/g, 'f32')}`);
  }
  for (const e of kernels) {
    const op = e.args?.op_name ?? '?';
    const r = byOp.get(op) ?? { fwd: 0, bwd: 0, count: 0 };
    const ms = e.dur / 1000 / timedRuns;
    if (isBackward(e.name)) r.bwd += ms;
    else r.fwd += ms;
    r.count++;
    byOp.set(op, r);
  }
  return {
    msPerRun,
    openMs,
    byOp,
    optimised: decodeModel(readFileSync(optimisedPath)),
    faultsPerRun: o.faults / o.times.length,
  };
};

const fo = await open('forward', fwd);
const so = await open('step', step);
// Side by side: forward and step runs alternate, and each keeps its fastest run (least disturbed by other load).
for (let k = 0; k < runs; k++)
  for (const o of [fo, so]) {
    const pf = process.resourceUsage().minorPageFault;
    const t1 = performance.now();
    await o.run();
    o.times.push(performance.now() - t1);
    o.faults += process.resourceUsage().minorPageFault - pf;
  }
const f = await finish(fo);
const s = await finish(so);
console.log(`peak RSS of the process (both sessions) ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
const sum = (m: Map<string, { fwd: number; bwd: number }>, k: 'fwd' | 'bwd') =>
  [...m.values()].reduce((a, r) => a + r[k], 0);

console.log(`model ${values.model}${values.model === 'sd15' ? ` div ${values.div} latent ${values.latent}` : ''}`);
console.log(
  `forward ${f.msPerRun.toFixed(2)} ms/run (open ${f.openMs.toFixed(0)} ms); step ${s.msPerRun.toFixed(2)} ms/run ` +
    `(open ${s.openMs.toFixed(0)} ms) → ratio ${(s.msPerRun / f.msPerRun).toFixed(2)}, open ratio ${(s.openMs / f.openMs).toFixed(2)}`,
);
console.log(
  `minor page faults per run: forward ${f.faultsPerRun.toFixed(0)}, step ${s.faultsPerRun.toFixed(0)} (4 KiB each: ${((f.faultsPerRun * 4) / 1024).toFixed(0)} / ${((s.faultsPerRun * 4) / 1024).toFixed(0)} MiB touched fresh)`,
);
console.log(
  `kernel time per run: forward graph ${sum(f.byOp, 'fwd').toFixed(2)} ms; step graph forward half ${sum(s.byOp, 'fwd').toFixed(2)} ms, backward half ${sum(s.byOp, 'bwd').toFixed(2)} ms`,
);
const top = Number(values.top);
const rows = [...s.byOp.entries()].sort((a, b) => b[1].fwd + b[1].bwd - (a[1].fwd + a[1].bwd)).slice(0, top);
console.log('op type (optimised step graph)   fwd-half ms   bwd-half ms   forward-graph ms');
for (const [op, r] of rows)
  console.log(
    `${op.padEnd(32)} ${r.fwd.toFixed(2).padStart(11)} ${r.bwd.toFixed(2).padStart(13)} ${(f.byOp.get(op)?.fwd ?? 0).toFixed(2).padStart(18)}`,
  );

const emitted = countOps(step, isBackward);
const emittedOpt = countOps(s.optimised, isBackward);
console.log(
  `nodes: forward ${fwd.graph.nodes.length} → optimised ${f.optimised.graph.nodes.length}; step ${step.graph.nodes.length} → optimised ${s.optimised.graph.nodes.length}; emitted backward ${Object.values(emitted).reduce((a, b) => a + b, 0)} → optimised ${Object.values(emittedOpt).reduce((a, b) => a + b, 0)}`,
);
const ops = [...new Set([...Object.keys(emitted), ...Object.keys(emittedOpt)])].sort(
  (a, b) => (emitted[b] ?? 0) - (emitted[a] ?? 0),
);
console.log(`emitted by op: ${ops.map((o) => `${o} ${emitted[o] ?? 0}→${emittedOpt[o] ?? 0}`).join(', ')}`);
console.log(
  JSON.stringify({
    bench: 'step-profile',
    model: values.model,
    forwardMs: f.msPerRun,
    stepMs: s.msPerRun,
    ratio: s.msPerRun / f.msPerRun,
    openRatio: s.openMs / f.openMs,
    backwardKernelMs: sum(s.byOp, 'bwd'),
    forwardHalfKernelMs: sum(s.byOp, 'fwd'),
  }),
);
process.exit(0);
