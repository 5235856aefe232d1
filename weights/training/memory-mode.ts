/**
 * How a training step trades memory for speed (TrainRequest.memory). At SD1.5 size on a 2-core CPU (README,
 * *Benchmarks*): `lean` peaks at 7.4–8.2 GiB for a step 2.5–2.8× the UNet forward; `fast` at ~15 GiB for ~2.25×.
 *  - `lean`: the autodiff's memory-saving defaults (the 64×64 attention split over heads, its probabilities
 *    recomputed in the backward) and lean-memory sessions (adapters/train-deps.ts trainSessionOptions);
 *  - `fast`: the probabilities kept from the forward (one N×N product and one softmax fewer per head, 512 MiB more
 *    per 64×64 attention) and onnxruntime's default sessions (pre-packed weights, memory pattern);
 *  - `auto`: `lean` for step graphs over 1 GiB of weights, onnxruntime's defaults below (where neither matters).
 */
import type { GradOptions } from '../autodiff/grad-emitter.ts';

export type MemoryMode = 'auto' | 'lean' | 'fast';

/** Weights above this make `auto` lean: a pre-packed copy of an SD UNet is gigabytes. */
export const leanAboveBytes = 2 ** 30;

/** The autodiff options a memory mode asks for (the rest stay the emitter's defaults). */
export const gradOptionsFor = (memory: MemoryMode = 'auto'): GradOptions =>
  memory === 'fast' ? { recomputeAttention: 'never' } : {};

/** Whether a step graph with `weightBytes` of weights opens in lean-memory sessions under `memory`. */
export const leanSessions = (memory: MemoryMode, weightBytes: number): boolean =>
  memory === 'lean' || (memory === 'auto' && weightBytes > leanAboveBytes);
