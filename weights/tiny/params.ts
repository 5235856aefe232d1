/**
 * Parameters of a generated model: each one is declared with its dims and how to initialise it, and becomes an
 * initializer — inline in the .onnx file when small, or a range of one external-data file when at least
 * `externalThreshold` bytes (1024, onnx.save's default, is what Optimum exports use). External values are never held
 * in one array: `ExternalData.chunks()` generates them piece by piece, so an 859 M-parameter UNet streams to disk.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { makeExternalTensorProto, makeTensorProto } from '../onnx/tensor-proto.ts';
import { tensor, sizeOf } from '../../common/tensor.ts';
import { paramStream } from '../../common/numerics/rng.ts';

/** How a parameter starts: PyTorch-like uniform(−bound, bound), normal(0, std), or a constant (norm gains, biases). */
export type Init =
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; std: number }
  | { kind: 'constant'; value: number };

/**
 * PyTorch's default for Linear and Conv weights and biases: kaiming_uniform(a=√5) gives bound 1/√fan_in.
 *
 * @example
 * store.param('proj.weight', [64, 64], kaiming(64)); // uniform(−1/8, 1/8)
 */
export const kaiming = (fanIn: number): Init => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });
/** Norm gains start at one. */
export const ones: Init = { kind: 'constant', value: 1 };
/** Norm shifts start at zero. */
export const zeros: Init = { kind: 'constant', value: 0 };

interface ExternalEntry {
  name: string;
  count: number;
  init: Init;
  offset: number;
}

/** The external-data file of a model: its relative location, size and a generator of its bytes in order. */
export interface ExternalData {
  readonly location: string;
  readonly byteLength: number;
  /** Yields the file's bytes in pieces of at most `maxBytes` (4 MiB by default). */
  chunks(maxBytes?: number): Generator<Uint8Array<ArrayBuffer>>;
}

/** Fills `out` with the next values of a parameter's stream. */
const fill = (out: Float32Array, init: Init, next: { uniform(): number; normal(): number }) => {
  if (init.kind === 'constant') out.fill(init.value);
  else if (init.kind === 'uniform') for (let i = 0; i < out.length; i++) out[i] = (2 * next.uniform() - 1) * init.bound;
  else for (let i = 0; i < out.length; i++) out[i] = next.normal() * init.std;
};

export interface ParamStoreOptions {
  seed: number;
  /** External-data file name, relative to the .onnx file; absent = everything inline. */
  externalLocation?: string;
  externalThreshold?: number;
}

/**
 * Declares parameters into a graph being built, inline or external by size.
 *
 * @example
 * const p = new ParamStore(b, { seed: 0, externalLocation: 'model.onnx_data' });
 * const w = p.param('conv_in.weight', [32, 4, 3, 3], kaiming(36));
 * for (const chunk of p.external()!.chunks()) write(chunk);
 */
export class ParamStore {
  /** Number of float parameters declared so far. */
  count = 0;
  private entries: ExternalEntry[] = [];
  private offset = 0;

  constructor(
    private readonly b: GraphBuilder,
    private readonly options: ParamStoreOptions,
  ) {}

  /**
   * Declares a float32 parameter and returns its initializer name (the name given, which must be unique: parameter
   * names follow the PyTorch state_dict, e.g. `down_blocks.0.resnets.0.conv1.weight`).
   */
  param(name: string, dims: number[], init: Init): string {
    const n = sizeOf(dims);
    this.count += n;
    const { externalLocation, externalThreshold = 1024, seed } = this.options;
    if (externalLocation && n * 4 >= externalThreshold) {
      this.entries.push({ name, count: n, init, offset: this.offset });
      this.b.addTensorProto(makeExternalTensorProto(name, 'float32', dims, externalLocation, this.offset, n * 4));
      this.offset += n * 4;
      return name;
    }
    const data = new Float32Array(n);
    fill(data, init, paramStream(seed, name));
    return this.b.addTensorProto(makeTensorProto(name, tensor('float32', dims, data)));
  }

  /** The external-data file, or undefined when every parameter is inline. */
  external(): ExternalData | undefined {
    const { externalLocation, seed } = this.options;
    if (!externalLocation || this.entries.length === 0) return undefined;
    const entries = [...this.entries];
    return {
      location: externalLocation,
      byteLength: this.offset,
      *chunks(maxBytes = 4 << 20) {
        const per = Math.max(1, Math.floor(maxBytes / 4));
        for (const e of entries) {
          // One stream per parameter, consumed in order across its chunks: same values as an inline fill.
          const stream = paramStream(seed, e.name);
          for (let done = 0; done < e.count; done += per) {
            const part = new Float32Array(Math.min(per, e.count - done));
            fill(part, e.init, stream);
            yield new Uint8Array(part.buffer);
          }
        }
      },
    };
  }
}

/**
 * Concatenates an external-data file into one array — for small models only.
 *
 * @example
 * files['unet/model.onnx_data'] = collectExternal(unet.external!);
 */
export const collectExternal = (data: ExternalData): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(data.byteLength);
  let at = 0;
  for (const c of data.chunks()) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};
