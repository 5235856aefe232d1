/**
 * All trainable weights of a pretraining graph as flat Float32Arrays (one per initializer), with the optimizer
 * that updates them in TypeScript between onnxruntime runs: global-norm gradient clipping, then AdamW
 * (torch.optim.AdamW's update, moments in float32 — these are ~10⁶ numbers, updated in place every step).
 * Serialises to one binary blob (weights, moments, step) so a run resumes where it stopped.
 */
import { PipelineError } from '../../common/errors.ts';
import { tensor, type Tensor } from '../../common/tensor.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = no clipping). */
  clipNorm: number;
}

export const defaultAdamW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 };

interface Entry {
  name: string;
  dims: number[];
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/**
 * Named parameters and their AdamW state.
 *
 * @example
 * const ps = new ParamSet([{ name: 'unet/conv_in.weight', dims: [32, 4, 3, 3], value }]);
 * const out = await session.run({ ...ps.feeds(), ...batch });
 * ps.step((n) => out[`${n}_grad`].data as Float32Array, 1e-3);
 */
export class ParamSet {
  /** Optimizer updates taken so far. */
  steps = 0;
  /** Scalars saved with the weights (the last step's losses), so a resumed run can still report them. */
  meta: Record<string, number> = {};
  private readonly entries: Entry[];

  constructor(params: { name: string; dims: number[]; value: Float32Array }[]) {
    this.entries = params.map((p) => ({
      ...p,
      value: Float32Array.from(p.value),
      m: new Float32Array(p.value.length),
      v: new Float32Array(p.value.length),
    }));
  }

  /** Parameter names in order. */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** Number of float parameters. */
  get size(): number {
    return this.entries.reduce((a, e) => a + e.value.length, 0);
  }

  /** The current value of one parameter (a live view: copy it to keep it). */
  value(name: string): Float32Array {
    const e = this.entries.find((x) => x.name === name);
    if (!e) throw new PipelineError('internal', `no parameter '${name}'`);
    return e.value;
  }

  /** The weights as session feeds, keyed by name. */
  feeds(): Record<string, Tensor> {
    return Object.fromEntries(this.entries.map((e) => [e.name, tensor('float32', e.dims, e.value)]));
  }

  /**
   * One clipped AdamW update from the gradients `grad(name)`; returns the gradient's global norm before clipping.
   * A non-finite norm changes nothing and throws, so one bad batch cannot poison the weights.
   */
  step(grad: (name: string) => Float32Array, lr: number, o: AdamWOptions = defaultAdamW): number {
    let sq = 0;
    const grads = this.entries.map((e) => {
      const g = grad(e.name);
      if (g.length !== e.value.length)
        throw new PipelineError(
          'shape_mismatch',
          `gradient of '${e.name}' has ${g.length} values, the parameter ${e.value.length}`,
        );
      for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
      return g;
    });
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm))
      throw new PipelineError('numeric', `the gradient norm is ${norm} at step ${this.steps + 1}`);
    const scale = o.clipNorm > 0 && norm > o.clipNorm ? o.clipNorm / norm : 1;
    const t = ++this.steps;
    const bc1 = 1 - o.beta1 ** t;
    const bc2 = Math.sqrt(1 - o.beta2 ** t);
    const decay = 1 - lr * o.weightDecay;
    const { beta1: b1, beta2: b2, eps } = o;
    this.entries.forEach((e, k) => {
      const g = grads[k];
      const { value: p, m, v } = e;
      // Decay only matrices and kernels, not biases (as most diffusion trainers group them).
      const d = e.dims.length > 1 ? decay : 1;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] * scale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * d - ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / bc2 + eps);
      }
    });
    return norm;
  }

  /** Weights, moments and the step count as one blob: a JSON header line, then raw little-endian float32s. */
  serialize(): Uint8Array {
    const header = new TextEncoder().encode(
      `${JSON.stringify({ steps: this.steps, meta: this.meta, params: this.entries.map((e) => ({ name: e.name, dims: e.dims })) })}\n`,
    );
    const floats = this.size * 3;
    const pad = (4 - (header.length % 4)) % 4;
    const out = new Uint8Array(header.length + pad + floats * 4);
    out.set(header);
    out.fill(0x20, header.length, header.length + pad);
    const body = new Float32Array(out.buffer, header.length + pad, floats);
    let at = 0;
    for (const e of this.entries) for (const a of [e.value, e.m, e.v]) body.set(a, at), (at += a.length);
    return out;
  }

  /** Restores what `serialize` wrote; the names and shapes must match this set's. */
  restore(blob: Uint8Array): void {
    const nl = blob.indexOf(10);
    const header = JSON.parse(new TextDecoder().decode(blob.subarray(0, nl))) as {
      steps: number;
      meta?: Record<string, number>;
      params: { name: string; dims: number[] }[];
    };
    const names = header.params.map((p) => `${p.name}[${p.dims}]`).join(',');
    if (names !== this.entries.map((e) => `${e.name}[${e.dims}]`).join(','))
      throw new PipelineError(
        'bad_request',
        'the checkpoint was written for other parameters (another model size or phase)',
      );
    const start = nl + 1 + ((4 - ((nl + 1) % 4)) % 4);
    const body = new Float32Array(blob.slice(start).buffer);
    let at = 0;
    for (const e of this.entries)
      for (const a of [e.value, e.m, e.v]) a.set(body.subarray(at, at + a.length)), (at += a.length);
    this.steps = header.steps;
    this.meta = header.meta ?? {};
  }
}
