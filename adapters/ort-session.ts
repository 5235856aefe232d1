/**
 * onnxruntime-node behind the project's `SessionFactory`. This is the only file that imports onnxruntime-node;
 * it converts tensors both ways, keeps `device: 'cuda'` on the GPU (no silent CPU fallback), and turns what
 * onnxruntime throws into typed `PipelineError`s with plain messages (`ortError`).
 */
import { basename } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PipelineError } from '../common/errors.ts';
import type { Device, IOInfo, Session, SessionFactory, SessionOptions } from '../weights/session.ts';
import { tensor, type DType, type Tensor } from '../common/tensor.ts';

const dtypes: Record<string, DType> = {
  float32: 'float32',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  uint8: 'uint8',
  int8: 'int8',
  bool: 'bool',
  float64: 'float64',
};

const toOrt = (t: Tensor): ort.Tensor => {
  // onnxruntime wants float16 as Uint16Array bits and bool as Uint8Array — the layouts we keep. Where the runtime
  // has a global Float16Array (Bun), onnxruntime-common converts Uint16 data into one, which the native binding
  // then cannot read ("not enough space"); put the raw bits back.
  const o = new ort.Tensor(t.dtype as any, t.data as any, t.dims as number[]);
  if (t.dtype === 'float16') (o as any).cpuData = t.data;
  return o;
};

const fromOrt = (t: ort.Tensor): Tensor => {
  const dtype = dtypes[t.type];
  if (!dtype)
    throw new PipelineError('bad_model', `onnxruntime returned a ${t.type} tensor, which pseudoword does not handle`);
  const d = t.data as ArrayBufferView & { length: number };
  // float16 may come back as a Float16Array (Bun); we keep the IEEE half bits.
  if (dtype === 'float16' && !(d instanceof Uint16Array))
    return tensor(dtype, t.dims as number[], new Uint16Array(d.buffer, d.byteOffset, d.length));
  return tensor(dtype, t.dims as number[], t.data as any);
};

const info = (m: ort.InferenceSession.ValueMetadata): IOInfo => {
  if (!m.isTensor) throw new PipelineError('bad_model', `value '${m.name}' is not a tensor`);
  return {
    name: m.name,
    dtype: dtypes[m.type] ?? ('float32' as DType),
    shape: m.shape.map((d) => (d === -1 ? null : d)) as IOInfo['shape'],
  };
};

const wrap = (s: ort.InferenceSession, device: Device): Session => ({
  inputs: s.inputMetadata.map(info),
  outputs: s.outputMetadata.map(info),
  async run(feeds, fetch) {
    try {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
      const out = fetch ? await s.run(ortFeeds, fetch as string[]) : await s.run(ortFeeds);
      const res: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(out)) res[k] = fromOrt(v as ort.Tensor);
      return res;
    } catch (e) {
      throw ortError(e, { phase: 'run', device });
    }
  },
  release: () => s.release(),
});

const cudaHint =
  'onnxruntime-node could not use the CUDA execution provider. It needs the CUDA 12 build of onnxruntime ' +
  '(installed with `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install` on a machine that can reach its ' +
  'download host), an NVIDIA driver, CUDA 12 and cuDNN 9 libraries on the library path. Use --device cpu otherwise.';

/**
 * The onnxruntime options for our `SessionOptions`; pure, so the switches can be checked without a session.
 *
 * For `device: 'cuda'` with `cpuFallback: 'refused'` (or `PSEUDOWORD_CUDA_FALLBACK=refuse`) it sets the session
 * config entry `session.disable_cpu_ep_fallback` = '1' (`kOrtSessionOptionsDisableCPUEPFallback`), and any node
 * assigned to the CPU provider is a load error. It is not the default: onnxruntime puts shape arithmetic on the CPU
 * on purpose (its CUDA provider's `GetCpuPreferredNodes`), so the switch rejects nearly every torch export. onnxruntime-node's binding flattens `extra` into config entries by joining
 * the nested keys with '.' (`IterateExtraOptions` in js/node/src/session_options_helper.cc), and accepts only string
 * values. The CPU provider is left out of the list on purpose: naming it while the fallback is off is an error.
 */
const strict = (o: SessionOptions) =>
  (o.cpuFallback ?? (process.env.PSEUDOWORD_CUDA_FALLBACK === 'refuse' ? 'refused' : 'allowed')) === 'refused';

export const ortSessionOptions = (options: SessionOptions = {}): ort.InferenceSession.SessionOptions => {
  const device = options.device ?? 'cpu';
  const session: Record<string, string> = {
    // Lean-memory mode drops pre-packing unless `prepacking: true` says to keep it.
    ...((options.prepacking ?? !(options.lowMemory || options.leanMemory)) ? {} : { disable_prepacking: '1' }),
    ...(options.leanMemory ? { use_device_allocator_for_initializers: '1' } : {}),
    ...(device === 'cuda' && strict(options) ? { disable_cpu_ep_fallback: '1' } : {}),
    // The optimised graph's weights go in one file beside it (a step graph's pass protobuf's 2 GB limit); tensors
    // under 1 KiB stay in the graph.
    ...(options.saveOptimizedTo
      ? {
          optimized_model_external_initializers_file_name: `${basename(options.saveOptimizedTo, '.onnx')}.data`,
          optimized_model_external_initializers_min_size_in_bytes: '1024',
        }
      : {}),
  };
  return {
    executionProviders: device === 'cuda' ? ['cuda'] : ['cpu'],
    graphOptimizationLevel: options.optimization ?? 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(options.lowMemory ? { enableCpuMemArena: false } : {}),
    ...(options.leanMemory ? { enableMemPattern: false } : {}),
    // Saving an NCHWc graph makes onnxruntime warn that it is for this machine's CPU: the cache's key holds the CPU.
    ...(options.saveOptimizedTo
      ? { optimizedModelFilePath: options.saveOptimizedTo, logSeverityLevel: 3 as const }
      : {}),
    ...(Object.keys(session).length ? { extra: { session } } : {}),
  };
};

/** Where an onnxruntime error happened, for the message. */
export interface OrtErrorContext {
  phase: 'load' | 'run';
  device?: Device;
  /** The model file's path, when it was opened from one. */
  model?: string;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const firstLine = (s: string) => clip((s.split('\n').find((l) => l.trim()) ?? '').trim(), 200);

/** The node, op or model input an onnxruntime message names, in the forms its messages use. */
const culpritOf = (msg: string): { node?: string; op?: string; input?: string } => {
  const patterns: [RegExp, 'op-node' | 'node-op' | 'input'][] = [
    [/running (\S+) node\. Name:'([^']*)'/, 'op-node'], // a kernel failing in run()
    [/implementation for (\S+?)\(\d+\) node with name '([^']*)'/, 'op-node'], // no kernel at load
    [/In Node, \("([^"]*)", ([^,]+),/, 'node-op'], // the graph checker at load
    [/Node \(([^)]*)\) Op \(([^)]*)\)/, 'node-op'], // shape inference at load
    [/for input: (\S+)/, 'input'], // a feed of the wrong shape
  ];
  for (const [re, kind] of patterns) {
    const m = re.exec(msg);
    if (!m) continue;
    if (kind === 'input') return { input: m[1] };
    return kind === 'op-node' ? { op: m[1], node: m[2] } : { node: m[1], op: m[2] };
  }
  const typeError = /Optype \((\w+)\).* in node \(([^)]*)\)/.exec(msg); // a dtype clash at load
  return typeError ? { op: typeError[1], node: typeError[2] } : {};
};

/**
 * The readable part of an onnxruntime message: kernel failures carry a source location, a C++ signature and the
 * failed check ahead of the sentence that explains it, and some messages a trailing "Please fix …" line.
 */
const reasonOf = (msg: string): string => {
  let s = msg.replace(/\[ONNXRuntimeError\] : \d+ : \w+ : /g, '');
  const status = /Status Message: ([\s\S]*)$/.exec(s);
  if (status) s = status[1];
  const checker = /, Error ([\s\S]*)$/.exec(s); // "This is an invalid model. In Node, (…) : (…) -> (…) , Error …"
  if (checker) s = checker[1];
  s = s.replace(/^\S+\.(?:h|cc|cpp|cu|cuh):\d+\s+/, '');
  const failedCheck = / was false\.\s*/.exec(s);
  if (failedCheck) s = s.slice(failedCheck.index + failedCheck[0].length);
  s = s.replace(/Please fix either the inputs\/outputs or the model\.?/g, '');
  return clip(s.replace(/\s+/g, ' ').trim(), 240);
};

const outOfMemory = /out of memory|failed to allocate|bad_alloc|cudaErrorMemoryAllocation|_ALLOC_FAILED/i;
const cpuFallbackRefused = /assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled/;
const cudaUnavailable = /cuda|cudnn|cublas|provider|libonnxruntime_providers/i;
const noKernel = /Could not find an implementation for|No Op registered for/;
const halfRefused = /MLFloat16 data type is not supported[^.\n]*/;
const missingFile = /File doesn't exist|No such file/i;
const invalidModel =
  /protobuf parsing failed|invalid model|No graph was found|Unsupported model IR version|opset|ModelProto|INVALID_GRAPH|INVALID_PROTOBUF/i;
const shapeClash =
  /invalid dimensions|invalid rank|dimension mismatch|broadcast|cannot be reshaped|ShapeInferenceError|Incompatible dimensions|Unexpected input data type|bound to different types|does not match data length|shape mismatch/i;

/**
 * Turns whatever onnxruntime threw into a `PipelineError` with a plain message: the code says what kind of
 * failure it was and the message names the node, op or input where onnxruntime's text does. onnxruntime's own
 * text (source paths, C++ signatures, allocator sizes) is kept, trimmed, in `details.cause` and never in `message`.
 */
export const ortError = (e: unknown, ctx: OrtErrorContext): PipelineError => {
  if (e instanceof PipelineError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  const { node, op, input } = culpritOf(raw);
  const details = { cause: clip(raw.trim(), 400), ...(node ? { node } : {}), ...(op ? { op } : {}) };
  const at = node ? ` at node '${node}'${op ? ` (${op})` : ''}` : input ? ` at input '${input}'` : '';
  const model = ctx.model ? ` '${ctx.model}'` : '';
  if (cpuFallbackRefused.test(raw))
    return new PipelineError(
      'unsupported_op',
      "onnxruntime's CUDA provider has no kernel for some nodes of this model, and device cuda does not fall back " +
        'to the CPU for them (onnxruntime does not name them). Use --device cpu, or a model whose ops the CUDA ' +
        'provider supports.',
      details,
    );
  if (outOfMemory.test(raw))
    return new PipelineError(
      'too_large',
      `the model ran out of memory${at || (ctx.phase === 'load' ? ' while loading' : ' while running')}` +
        `${ctx.device === 'cuda' ? ' on the GPU' : ''}; lower the resolution or batch`,
      details,
    );
  if (ctx.phase === 'load' && ctx.device === 'cuda' && cudaUnavailable.test(raw))
    return new PipelineError('device_unavailable', cudaHint, details);
  if (noKernel.test(raw)) {
    const opset = /implementation for \S+?\((\d+)\)/.exec(raw)?.[1];
    return new PipelineError(
      'unsupported_op',
      `onnxruntime has no kernel for ${op ?? 'an op'}${opset ? ` (opset ${opset})` : ''}` +
        `${node ? ` in node '${node}'` : ''}`,
      details,
    );
  }
  // A float16 kernel that exists but refuses a mode at run time (ScatterND/ScatterElements with reduction 'add'
  // on the CPU): onnxruntime does not cast around it, since a kernel is registered (README: float16 exports).
  const half = halfRefused.exec(raw);
  if (half)
    return new PipelineError(
      'unsupported_op',
      `onnxruntime's ${ctx.device === 'cuda' ? 'CUDA' : 'CPU'} provider cannot run ${op ?? 'an op'}${node ? ` (node '${node}')` : ''} in float16 (onnxruntime: "${half[0]}"). Use a float32 export, or --device cuda`,
      { ...details, float16: true },
    );
  if (ctx.phase === 'load' && missingFile.test(raw))
    return new PipelineError('not_found', `there is no model file${model}`, details);
  if (ctx.phase === 'load' && invalidModel.test(raw))
    return new PipelineError(
      'bad_model',
      `onnxruntime could not load the model${model}${at}: ${reasonOf(raw)}`,
      details,
    );
  if (shapeClash.test(raw))
    return new PipelineError('shape_mismatch', `tensor shapes or types do not fit${at}: ${reasonOf(raw)}`, details);
  return new PipelineError(
    'internal',
    `onnxruntime failed ${ctx.phase === 'load' ? `to load the model${model}` : 'while running the model'}: ` +
      firstLine(raw),
    details,
  );
};

/** The runtime making the sessions, for keys of what it saves (adapters/session-cache.ts). */
export const ortRuntime = `onnxruntime-node ${ort.env.versions.node}`;

/** onnxruntime-node sessions. `device: 'cuda'` uses the CUDA provider only, so a silent CPU fallback never hides.
 */
export const ortSessionFactory: SessionFactory = {
  async create(model, options: SessionOptions = {}) {
    const device = options.device ?? 'cpu';
    const opts = ortSessionOptions(options);
    try {
      const s =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, opts)
          : await ort.InferenceSession.create(model, opts);
      return wrap(s, device);
    } catch (e) {
      throw ortError(e, { phase: 'load', device, ...(typeof model === 'string' ? { model } : {}) });
    }
  },
};
