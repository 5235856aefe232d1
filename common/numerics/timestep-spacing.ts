import { PipelineError } from '../errors.ts';
import type { SchedulerConfig } from './scheduler-config.ts';

/**
 * numpy's `round`: halves go to the even neighbour (banker's rounding), unlike Math.round.
 * @example roundHalfEven(2.5) // 2
 */
export const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * The descending training timesteps a diffusers scheduler visits in `numSteps` sampling steps (T =
 * num_train_timesteps; the three spacings of Lin et al. 2023, table 2):
 * - `leading`:  k = ⌊T/N⌋, t_i = i·k + steps_offset for i = N−1 … 0 (SD1.5: 981, 961, …, 1);
 * - `trailing`: k = T/N (real), t = round(T − j·k) − 1 for j = 0 … (999, 979, …, 19 for N = 50);
 * - `linspace`: round of N evenly spaced points over [0, T−1], reversed.
 * Rounding is numpy's (half to even) and the trailing count is numpy.arange's ⌈T/k⌉, so the lists equal diffusers'.
 *
 * @example
 * timestepSpacing(parseSchedulerConfig({ steps_offset: 1 }), 50).slice(0, 3); // [981, 961, 941]
 */
export const timestepSpacing = (config: SchedulerConfig, numSteps: number): number[] => {
  const T = config.num_train_timesteps;
  if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > T) {
    throw new PipelineError(
      'bad_request',
      `numSteps must be an integer in 1..${T} (num_train_timesteps), got ${numSteps}`,
    );
  }
  const out: number[] = [];
  if (config.timestep_spacing === 'leading') {
    const k = Math.floor(T / numSteps);
    for (let i = numSteps - 1; i >= 0; i--) out.push(i * k + config.steps_offset);
  } else if (config.timestep_spacing === 'trailing') {
    const k = T / numSteps;
    const count = Math.ceil(T / k);
    for (let j = 0; j < count; j++) out.push(roundHalfEven(T - j * k) - 1);
  } else {
    const step = numSteps === 1 ? 0 : (T - 1) / (numSteps - 1);
    // numpy pins the last point to the stop value exactly; with N = 1 the only point is the start, 0.
    for (let i = numSteps - 1; i >= 0; i--)
      out.push(numSteps > 1 && i === numSteps - 1 ? T - 1 : roundHalfEven(i * step));
  }
  const bad = out.find((t) => t < 0 || t >= T);
  if (bad !== undefined) {
    throw new PipelineError(
      'bad_model',
      `timestep ${bad} falls outside 0..${T - 1}; check steps_offset in scheduler_config.json`,
    );
  }
  return out;
};
