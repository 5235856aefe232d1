/**
 * IEEE half-precision bits ↔ numbers, for float16 constants in gradient graphs and for tests that feed or read
 * float16 tensors (kept as raw Uint16 bits). The conversion itself lives in `weights/half.ts`.
 */
export { toHalf as toHalfBits, fromHalf as fromHalfBits } from '../half.ts';
