/**
 * A cap on how long each learned vector may grow, relative to the vector it started from. With Adam every
 * coordinate moves by about lr per step whatever its gradient, so a few hundred steps can carry a word far past the
 * norms of the vocabulary it lives among (measured on the shipped tiny: 1.1 after 400 steps at lr 0.005, against
 * 0.5–0.6 for its words); such a word outweighs the rest of the prompt in cross-attention, and edits ("… on the
 * left", "a blue …") stop taking. The cap is a projection after each update onto the ball ‖v‖ ≤ ratio·‖v₀‖, the
 * plain form of the norm regularisers that later inversion methods add to the loss.
 */
import { norm } from './train-state.ts';

/**
 * Scales each `dim`-long vector of `vectors` in place whose L2 norm exceeds `ratio` × the norm of the same vector
 * of `initial`; `ratio` 0 leaves everything as it is. Returns how many vectors were scaled.
 *
 * @example
 * capNorms(params, ctx.initVectors, 768, 1.5);
 */
export const capNorms = (vectors: Float32Array, initial: Float32Array, dim: number, ratio: number): number => {
  if (ratio <= 0) return 0;
  let capped = 0;
  for (let off = 0; off < vectors.length; off += dim) {
    const [now, cap] = [norm(vectors.subarray(off, off + dim)), ratio * norm(initial.subarray(off, off + dim))];
    if (now <= cap || now === 0) continue;
    const f = cap / now;
    for (let i = off; i < off + dim; i++) vectors[i] *= f;
    capped++;
  }
  return capped;
};
