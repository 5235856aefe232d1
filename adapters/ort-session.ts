/**
 * onnxruntime-node behind the project's `SessionFactory`. This is the only file that imports onnxruntime-node;
 * it converts tensors both ways and turns a missing CUDA provider into a clear `device_unavailable` error.
 */
import * as ort from 'onnxruntime-node';
import { PipelineError } from '../common/errors.ts';
import type { IOInfo, Session, SessionFactory, SessionOptions } from '../weights/session.ts';
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

const wrap = (s: ort.InferenceSession): Session => ({
  inputs: s.inputMetadata.map(info),
  outputs: s.outputMetadata.map(info),
  async run(feeds, fetch) {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
    const out = fetch ? await s.run(ortFeeds, fetch as string[]) : await s.run(ortFeeds);
    const res: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(out)) res[k] = fromOrt(v as ort.Tensor);
    return res;
  },
  release: () => s.release(),
});

const cudaHint =
  'onnxruntime-node could not use the CUDA execution provider. It needs the CUDA 12 build of onnxruntime ' +
  '(installed with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` on a machine that can reach its ' +
  'download host), an NVIDIA driver, CUDA 12 and cuDNN 9 libraries on the library path. Use --device cpu otherwise.';

/** onnxruntime-node sessions. `device: 'cuda'` asks for the CUDA provider only, so a silent CPU fallback never hides.
 */
export const ortSessionFactory: SessionFactory = {
  async create(model, options: SessionOptions = {}) {
    const device = options.device ?? 'cpu';
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: device === 'cuda' ? ['cuda'] : ['cpu'],
      graphOptimizationLevel: options.optimization ?? 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      ...(options.lowMemory ? { enableCpuMemArena: false, extra: { session: { disable_prepacking: '1' } } } : {}),
    };
    try {
      const s =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, opts)
          : await ort.InferenceSession.create(model, opts);
      return wrap(s);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (device === 'cuda' && /cuda|provider|libonnxruntime_providers/i.test(msg))
        throw new PipelineError('device_unavailable', `${cudaHint} (onnxruntime said: ${msg.split('\n')[0]})`);
      const op = /Could not find an implementation for (\S+)\((\d+)\) node with name '([^']*)'/.exec(msg);
      if (op)
        throw new PipelineError(
          'unsupported_op',
          `onnxruntime has no kernel for ${op[1]} (opset ${op[2]}) in node '${op[3]}'`,
        );
      throw new PipelineError(
        'bad_model',
        `onnxruntime could not load the model${typeof model === 'string' ? ` '${model}'` : ''}: ${msg}`,
      );
    }
  },
};
