/**
 * Learning-rate schedules as diffusers' get_scheduler defines them: constant (with warmup), linear decay to 0,
 * cosine (half a cycle) to 0, each after a linear warmup from 0 over `warmup` steps. `step` is the number of
 * optimizer updates already taken (0 for the first).
 */
export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export const learningRate = (kind: ScheduleKind, base: number, step: number, total: number, warmup: number): number => {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  if (kind === 'constant') return base;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (kind === 'linear') return base * Math.max(0, 1 - progress);
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
};
