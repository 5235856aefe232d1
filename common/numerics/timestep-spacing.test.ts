import { describe, expect, it } from 'bun:test';
import { parseSchedulerConfig } from './scheduler-config.ts';
import { timestepSpacing } from './timestep-spacing.ts';

const cfg = (o: Record<string, unknown>) => parseSchedulerConfig(o);

describe('timestepSpacing', () => {
  it('gives SD1.5 (leading, steps_offset 1) 981, 961, …, 1 for 50 steps', () => {
    const ts = timestepSpacing(cfg({ steps_offset: 1 }), 50);
    expect(ts).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
  });

  it('gives leading spacing with a floored ratio when T/N is not whole', () => {
    // ⌊1000/3⌋ = 333 → 666, 333, 0
    expect(timestepSpacing(cfg({}), 3)).toEqual([666, 333, 0]);
  });

  it('gives trailing spacing 999, 979, …, 19 for 50 steps', () => {
    expect(timestepSpacing(cfg({ timestep_spacing: 'trailing' }), 50)).toEqual(
      Array.from({ length: 50 }, (_, i) => 999 - 20 * i),
    );
  });

  it('rounds trailing halves to even as numpy does', () => {
    // T = 10, N = 4: 10, 7.5, 5, 2.5 → round-half-even 10, 8, 5, 2 → minus one.
    expect(timestepSpacing(cfg({ num_train_timesteps: 10, timestep_spacing: 'trailing' }), 4)).toEqual([9, 7, 4, 1]);
    // T = 1000, N = 3: 1000, 666.67, 333.33 → 999, 666, 332.
    expect(timestepSpacing(cfg({ timestep_spacing: 'trailing' }), 3)).toEqual([999, 666, 332]);
  });

  it('gives linspace spacing over [0, 999]', () => {
    expect(timestepSpacing(cfg({ timestep_spacing: 'linspace' }), 10)).toEqual([
      999, 888, 777, 666, 555, 444, 333, 222, 111, 0,
    ]);
    const ts = timestepSpacing(cfg({ timestep_spacing: 'linspace' }), 50);
    // step 999/49 = 20.387755…: 48·step = 978.61 → 979, 1·step → 20.
    expect([ts[0], ts[1], ts[48], ts[49]]).toEqual([999, 979, 20, 0]);
    expect(timestepSpacing(cfg({ timestep_spacing: 'linspace' }), 1)).toEqual([0]);
  });

  it('refuses more steps than training timesteps', () => {
    expect(() => timestepSpacing(cfg({}), 1001)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('refuses a steps_offset that pushes a timestep past T − 1', () => {
    expect(() => timestepSpacing(cfg({ steps_offset: 1 }), 1000)).toThrow(
      expect.objectContaining({ code: 'bad_model' }),
    );
  });
});
