/**
 * The runtime-agnostic face of an inference session: what stages and the trainer call. The onnxruntime-node
 * implementation lives in `adapters/ort-session.ts`; tests may pass any object of this shape.
 */
import type { Dim } from './onnx/proto.ts';
import type { DType, Tensor } from '../common/tensor.ts';

/** One model input or output as the session reports it (never assumed from names). */
export interface IOInfo {
  readonly name: string;
  readonly dtype: DType;
  /** [] when the model declares no shape; symbolic dims are strings. */
  readonly shape: readonly Dim[];
}

/** Where a session runs. 'cuda' means every node on the GPU: a factory must not quietly run some on the CPU. */
export type Device = 'cpu' | 'cuda';

export interface Session {
  readonly inputs: readonly IOInfo[];
  readonly outputs: readonly IOInfo[];
  /** Runs the model; returns the named outputs (all of them when `fetch` is omitted). */
  run(feeds: Record<string, Tensor>, fetch?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  device?: Device;
  /** Threads for one op; defaults to onnxruntime's choice. */
  threads?: number;
  /** onnxruntime graph optimisation level; 'all' unless a test needs the graph as written. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Trade speed for memory: no pre-packed weight copies and no CPU memory arena (its freed blocks are not given
   * back). Worth it for big training graphs, whose weights feed both forward and backward kernels.
   */
  lowMemory?: boolean;
  /**
   * Pre-packed weight copies (onnxruntime's default, true): false drops them while keeping the CPU arena — the
   * half of `lowMemory` that costs no page faults per run (the arena keeps activation memory mapped).
   */
  prepacking?: boolean;
  /**
   * Hold little beside the weights while keeping the CPU arena (so no fresh pages every run): no pre-packed weight
   * copies, initialisers and folded constants on the device allocator (their own size, outside the arena's doubling
   * chunks), and no memory pattern (a pattern is one more block the size of the run's peak, beside the arena that
   * already reuses freed blocks). What big training graphs use: on the SD1.5-size step, 8.2 GiB at the speed of
   * the defaults, where the defaults peak over 12 GiB and `lowMemory` runs ~40 % slower (README, Benchmarks).
   */
  leanMemory?: boolean;
  /**
   * With `device: 'cuda'`: whether nodes may run on the CPU. onnxruntime places shape arithmetic (Shape → Gather →
   * Concat chains, which every torch export has) on the CPU by design, and nodes the CUDA provider has no kernel for
   * too, so refusing makes most real exports fail to load. 'allowed' (default) keeps onnxruntime's placement;
   * 'refused' makes any CPU node a load error (set `PSEUDOWORD_CUDA_FALLBACK=refuse` for the CLI and server).
   */
  cpuFallback?: 'allowed' | 'refused';
  /**
   * Write the graph onnxruntime makes of the model (optimised: constants folded, nodes fused, kernels re-laid out)
   * to this path, its weights in a `.data` file beside it; opened later with `optimization: 'disabled'`, it is the
   * same session without the optimisation work (adapters/session-cache.ts).
   */
  saveOptimizedTo?: string;
}

/**
 * Makes sessions from a model file's path or bytes. One implementation per runtime library. Creating and running
 * fail with a `PipelineError` (common/errors.ts) whose code says what went wrong, not with the runtime's own text:
 * `too_large` (out of memory), `shape_mismatch`, `bad_model`, `unsupported_op`, `device_unavailable`, `not_found`,
 * else `internal`; the runtime's text, trimmed, goes in `details.cause`.
 */
export interface SessionFactory {
  create(model: string | Uint8Array, options?: SessionOptions): Promise<Session>;
}

/** Finds an input by name, or throws naming what the model has. */
export const inputInfo = (s: Session, name: string): IOInfo | undefined => s.inputs.find((i) => i.name === name);
