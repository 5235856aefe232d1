import { describe, expect, it } from 'bun:test';
import { generatePipelineDescription } from './generate-pipeline.ts';
import { parseSchedulerConfig } from './numerics/scheduler-config.ts';
import { samplerByName, samplerForScheduler, samplerLabel, samplerNames } from './sampler-names.ts';

const forClass = (json: Record<string, unknown>) => samplerForScheduler(parseSchedulerConfig(json));

describe('sampler names', () => {
  it("picks the sampler a model folder's scheduler class stands for", () => {
    expect(forClass({ _class_name: 'DDIMScheduler' })).toEqual({ use: 'ddim' });
    expect(forClass({ _class_name: 'EulerDiscreteScheduler' })).toEqual({ use: 'euler' });
    expect(forClass({ _class_name: 'EulerAncestralDiscreteScheduler' })).toEqual({ use: 'euler-a', eta: 1 });
    expect(forClass({ _class_name: 'DPMSolverMultistepScheduler' })).toEqual({ use: 'dpm++2m' });
    // Classes without a sampler of their own here (SD1.5's PNDM, LMS, …) and files without a class run DDIM.
    expect(forClass({ _class_name: 'PNDMScheduler' })).toEqual({ use: 'ddim' });
    expect(forClass({})).toEqual({ use: 'ddim' });
  });

  it('labels a DPM-Solver folder with use_karras_sigmas as dpm++2m-karras', () => {
    const cfg = parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true });
    expect(samplerLabel(samplerForScheduler(cfg), cfg)).toBe('dpm++2m-karras');
    expect(samplerLabel({ use: 'dpm++2m', karras: false }, cfg)).toBe('dpm++2m');
  });

  it('turns every name into a valid pipeline description sampler, and back into the same name', () => {
    for (const name of samplerNames) {
      const choice = samplerByName(name);
      expect(generatePipelineDescription.parse({ sampler: choice }).sampler).toEqual(choice);
      expect(samplerLabel(choice)).toBe(name);
    }
    expect(samplerByName('dpm++2m-karras')).toEqual({ use: 'dpm++2m', karras: true });
  });
});
