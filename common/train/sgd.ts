import type { AdamWState } from './adamw.ts';

/**
 * SGD with momentum (torch.optim.SGD, dampening 0): b ← μb + g (b = g on the first step), θ ← θ − lr·b.
 * Shares AdamW's state shape (`m` holds the momentum buffer, `v` stays empty) so checkpoints treat both alike.
 */
export const sgdStep = (
  params: Float32Array,
  grad: Float32Array,
  s: AdamWState,
  lr: number,
  momentum: number,
): AdamWState => {
  const m = Float64Array.from(s.m);
  for (let i = 0; i < params.length; i++) {
    m[i] = s.step === 0 ? grad[i] : momentum * m[i] + grad[i];
    params[i] -= lr * m[i];
  }
  return { step: s.step + 1, m, v: s.v };
};
