/**
 * AdamW (Loshchilov & Hutter 2019) over a flat Float32Array — the learned vectors are a few thousand numbers, so
 * the update runs in TypeScript between onnxruntime runs. Moments are float64 so long runs do not drift, and the
 * state serialises exactly (for bit-exact resume).
 *
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)
 *   θ ← θ − lr·λ·θ − lr·m̂/(√v̂ + ε)            (decoupled weight decay, as torch.optim.AdamW)
 */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWState {
  step: number;
  m: Float64Array;
  v: Float64Array;
}

export const adamwInit = (n: number): AdamWState => ({ step: 0, m: new Float64Array(n), v: new Float64Array(n) });

/** One AdamW update in place on `params`; returns the new state. */
export const adamwStep = (
  params: Float32Array,
  grad: Float32Array,
  s: AdamWState,
  lr: number,
  c: AdamWConfig,
): AdamWState => {
  const step = s.step + 1;
  const m = Float64Array.from(s.m);
  const v = Float64Array.from(s.v);
  const bc1 = 1 - c.beta1 ** step;
  const bc2 = 1 - c.beta2 ** step;
  for (let i = 0; i < params.length; i++) {
    const g = grad[i];
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
    // torch: p *= 1 − lr·λ first, then p −= lr·m̂/(√v̂+ε) with the bias corrections folded as below.
    const p = params[i] * (1 - lr * c.weightDecay);
    params[i] = p - ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + c.eps);
  }
  return { step, m, v };
};
