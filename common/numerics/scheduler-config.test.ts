import { describe, expect, it } from 'bun:test';
import { PipelineError } from '../errors.ts';
import { parseSchedulerConfig, schedulerConfig } from './scheduler-config.ts';

// runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json, as published on the Hub.
const SD15 = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

describe('schedulerConfig', () => {
  it('reads the SD1.5 file, keeping its own values and unknown keys', () => {
    const c = parseSchedulerConfig(SD15);
    expect(c.steps_offset).toBe(1);
    expect(c.set_alpha_to_one).toBe(false);
    expect(c.clip_sample).toBe(false);
    expect(c.trained_betas).toBeNull();
    expect((c as Record<string, unknown>)._class_name).toBe('PNDMScheduler');
    expect((c as Record<string, unknown>).skip_prk_steps).toBe(true);
  });

  it('fills the keys a file leaves out with DDIMScheduler defaults', () => {
    const c = parseSchedulerConfig({});
    expect(c).toMatchObject({
      num_train_timesteps: 1000,
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      clip_sample: true,
      clip_sample_range: 1,
      set_alpha_to_one: true,
      steps_offset: 0,
      prediction_type: 'epsilon',
      timestep_spacing: 'leading',
      thresholding: false,
      rescale_betas_zero_snr: false,
    });
  });

  it('accepts the SD2 768 v-prediction settings', () => {
    const c = schedulerConfig.parse({ ...SD15, prediction_type: 'v_prediction', timestep_spacing: 'trailing' });
    expect(c.prediction_type).toBe('v_prediction');
    expect(c.timestep_spacing).toBe('trailing');
  });

  it('gives the Euler and DPM-Solver classes their own default spacing, linspace, unless the file names one', () => {
    for (const cls of ['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'DPMSolverMultistepScheduler'])
      expect(parseSchedulerConfig({ _class_name: cls }).timestep_spacing).toBe('linspace');
    // SDXL's file says leading itself; DDIM and PNDM (SD1.5) default to leading.
    const sdxl = { _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading', steps_offset: 1 };
    expect(parseSchedulerConfig(sdxl).timestep_spacing).toBe('leading');
    expect(parseSchedulerConfig(SD15).timestep_spacing).toBe('leading');
    expect(parseSchedulerConfig({ _class_name: 'DDIMScheduler' }).timestep_spacing).toBe('leading');
  });

  it('reads use_karras_sigmas, off unless the file turns it on', () => {
    expect(parseSchedulerConfig({}).use_karras_sigmas).toBe(false);
    expect(parseSchedulerConfig({ use_karras_sigmas: true }).use_karras_sigmas).toBe(true);
  });

  it('rejects a bad value with a bad_model error that names the field', () => {
    try {
      parseSchedulerConfig({ beta_schedule: 'sigmoid', steps_offset: -1 });
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(PipelineError);
      expect((e as PipelineError).code).toBe('bad_model');
      expect((e as PipelineError).message).toContain('beta_schedule');
      expect((e as PipelineError).message).toContain('steps_offset');
    }
  });

  it('rejects trained_betas whose length differs from num_train_timesteps', () => {
    expect(() => parseSchedulerConfig({ num_train_timesteps: 3, trained_betas: [0.1, 0.2] })).toThrow(/trained_betas/);
  });
});
