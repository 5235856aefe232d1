/**
 * Reads a `torch.save` file (the zip format of PyTorch ≥ 1.6: `<prefix>/data.pkl` plus one raw little-endian
 * entry per storage under `<prefix>/data/<key>`) into plain values, with tensors as `TorchTensor`. Only the
 * tensor-rebuilding functions torch's pickler names are interpreted; nothing in the file is executed.
 */
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';
import { fromHalf } from '../../common/numerics/half.ts';
import { PyGlobal, unpickle } from './unpickle.ts';
import { readZipEntries } from './zip-entries.ts';

/** A tensor from a torch file: float storages decode to float32, integer ones to numbers. */
export class TorchTensor {
  constructor(
    readonly dtype: string,
    readonly shape: number[],
    readonly values: Float32Array | number[],
  ) {}
}

/** A storage the persistent-id loader found: a class, so a tensor can only be rebuilt from one of these. */
class Storage {
  constructor(
    readonly dtype: string,
    readonly view: DataView,
    readonly numel: number,
  ) {}
}

// torch.<Name>Storage → element size and reader (little-endian, as `byteorder` says).
const storages: Record<string, [number, (v: DataView, at: number) => number]> = {
  FloatStorage: [4, (v, at) => v.getFloat32(at, true)],
  HalfStorage: [2, (v, at) => fromHalf(v.getUint16(at, true))],
  BFloat16Storage: [2, (v, at) => new Float32Array(Uint32Array.of(v.getUint16(at, true) << 16).buffer)[0]],
  DoubleStorage: [8, (v, at) => v.getFloat64(at, true)],
  LongStorage: [8, (v, at) => Number(v.getBigInt64(at, true))],
  IntStorage: [4, (v, at) => v.getInt32(at, true)],
  ShortStorage: [2, (v, at) => v.getInt16(at, true)],
  CharStorage: [1, (v, at) => v.getInt8(at)],
  ByteStorage: [1, (v, at) => v.getUint8(at)],
  BoolStorage: [1, (v, at) => v.getUint8(at)],
};
const floatStorages = new Set(['FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage']);

/**
 * Loads a torch.save zip file. `what` names the file in error messages.
 * @example
 * const data = torchLoad(bytes, 'emb.pt') as Map<string, unknown>;
 * data.get('string_to_param') // Map { '*' => TorchTensor }
 */
export const torchLoad = (bytes: Uint8Array, what: string): unknown => {
  const bad = (m: string) => new PipelineError('bad_embedding', `${what}: ${m}`);
  const entries = readZipEntries(bytes, what);
  const pkl = [...entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pkl) throw bad('a zip archive without data.pkl, not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const entry = (name: string) => {
    const b = entries.get(prefix + name);
    if (b === null)
      throw bad(`zip entry '${prefix + name}' is compressed; torch.save never compresses, so re-save the file`);
    return b;
  };
  const order = entry('byteorder');
  if (order && new TextDecoder().decode(order).trim() !== 'little')
    throw bad('big-endian torch files are not supported');

  const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const counts = (x: unknown): x is number[] => Array.isArray(x) && x.every(isCount);

  const persistentLoad = (pid: unknown): Storage => {
    // ('storage', torch.FloatStorage, key, location, numel)
    if (!Array.isArray(pid) || pid.length < 5) throw bad('a persistent id that is not a storage tuple');
    const [kind, type, key, , numel] = pid as [unknown, unknown, unknown, unknown, unknown];
    const name = type instanceof PyGlobal ? type.path.replace(/^torch\./, '') : String(type);
    if (kind !== 'storage' || !Object.hasOwn(storages, name)) throw bad(`unsupported storage ${JSON.stringify(name)}`);
    if (typeof key !== 'string' || !isCount(numel)) throw bad('a storage without a key or an element count');
    const data = entry(`data/${key}`);
    if (!data || data.byteLength < numel * storages[name][0]) throw bad(`storage ${key} is missing or truncated`);
    return new Storage(name, new DataView(data.buffer, data.byteOffset, data.byteLength), numel);
  };

  let tensorBytes = 0;
  const rebuild = (storage: unknown, offset: unknown, size: unknown, stride: unknown): TorchTensor => {
    if (!(storage instanceof Storage)) throw bad('a tensor rebuilt from something that is not a storage');
    if (!isCount(offset) || !counts(size) || !counts(stride) || stride.length !== size.length)
      throw bad('a tensor whose offset, size or stride is not a list of counts');
    if (size.length > limits.tensorDims)
      throw bad(`a tensor of ${size.length} dimensions (at most ${limits.tensorDims})`);
    const [bytesPer, read] = storages[storage.dtype];
    const n = size.reduce((a, b) => a * b, 1);
    // A saved embedding never has more elements than its storage; a corrupt size must not allocate gigabytes.
    if (!(n <= Math.max(1, storage.numel)))
      throw bad(`a tensor of shape [${size.join(', ')}] is larger than its storage (${storage.numel} elements)`);
    // Tensors may share a storage, so the sum over all of them is capped too, not only each one.
    tensorBytes += n * bytesPer;
    if (tensorBytes > limits.torchTensorBytes)
      throw bad(`its tensors hold more than ${limits.torchTensorBytes} bytes, too many for an embedding`);
    const values = floatStorages.has(storage.dtype) ? new Float32Array(n) : new Array<number>(n);
    // Walk the logical indices in row-major order; the storage index follows the strides.
    const index = new Array<number>(size.length).fill(0);
    for (let i = 0; i < n; i++) {
      const at = offset + index.reduce((sum, x, d) => sum + x * stride[d], 0);
      if (at >= storage.numel) throw bad(`a tensor reads past its storage (${at} ≥ ${storage.numel})`);
      values[i] = read(storage.view, at * bytesPer);
      for (let d = size.length - 1; d >= 0 && ++index[d] === size[d]; d--) index[d] = 0;
    }
    return new TorchTensor(storage.dtype, size, values);
  };

  const call: Record<string, (...a: any[]) => unknown> = {
    'torch._utils._rebuild_tensor_v2': rebuild,
    'torch._utils._rebuild_tensor': rebuild,
    'torch._utils._rebuild_parameter': (data: unknown) => data,
    'torch._utils._rebuild_parameter_with_state': (data: unknown) => data,
    // Tensor subclasses and tensors with Python state: rebuild the plain tensor, drop the rest.
    'torch._tensor._rebuild_from_type_v2': (fn: unknown, _type: unknown, args: unknown) => {
      const f = fn instanceof PyGlobal && fn.path !== 'torch._tensor._rebuild_from_type_v2' ? call[fn.path] : undefined;
      if (!f || !Array.isArray(args)) throw bad(`unsupported tensor rebuild ${fn instanceof PyGlobal ? fn.path : ''}`);
      return f(...args);
    },
  };
  return unpickle(entry('data.pkl')!, what, { call, persistentLoad });
};
