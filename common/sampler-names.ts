/**
 * Samplers by name, as `--sampler` and the request's `sampler` field say them, and the default a model folder's
 * scheduler class implies.
 */
import type { SamplerChoice } from './generate-pipeline.ts';
import type { SchedulerConfig } from './numerics/scheduler-config.ts';

/** The names a request or `--sampler` may use, each a pipeline-description sampler with its settings. */
export const samplerNames = [
  'ddim',
  'ddpm-ancestral',
  'euler',
  'euler-karras',
  'euler-a',
  'euler-a-karras',
  'dpm++2m',
  'dpm++2m-karras',
] as const;

/** One of `samplerNames`. */
export type SamplerName = (typeof samplerNames)[number];

/**
 * The description sampler a name stands for: `-karras` turns on Karras σs, anything else keeps the defaults.
 * @example samplerByName('dpm++2m-karras') // { use: 'dpm++2m', karras: true }
 */
export const samplerByName = (name: SamplerName): SamplerChoice => {
  const karras = name.endsWith('-karras');
  const use = name.replace(/-karras$/, '') as SamplerChoice['use'];
  if (use === 'euler-a') return { use, eta: 1, karras };
  if (use === 'euler' || use === 'dpm++2m') return { use, karras };
  return { use } as SamplerChoice;
};

/**
 * The name a description sampler goes by in listings, download names and summaries (its `use`, plus `-karras`).
 * @example samplerLabel({ use: 'dpm++2m', karras: true }) // 'dpm++2m-karras'
 */
export const samplerLabel = (choice: SamplerChoice, config?: SchedulerConfig): string => {
  const karras = choice.use === 'ddim' || choice.use === 'ddpm-ancestral' ? false : choice.karras;
  return (karras ?? config?.use_karras_sigmas) ? `${choice.use}-karras` : choice.use;
};

/**
 * The sampler a model folder asks for by its scheduler_config.json `_class_name`, as diffusers would run it:
 * EulerDiscreteScheduler → euler, EulerAncestralDiscreteScheduler → euler-a, DPMSolverMultistepScheduler →
 * dpm++2m (Karras σs when use_karras_sigmas); DDIMScheduler and anything else (PNDM, LMS, …) → ddim.
 * @example samplerForScheduler(parseSchedulerConfig({ _class_name: 'EulerAncestralDiscreteScheduler' })) // { use:
 * 'euler-a', eta: 1 }
 */
export const samplerForScheduler = (config: SchedulerConfig): SamplerChoice => {
  switch ((config as { _class_name?: unknown })._class_name) {
    case 'EulerDiscreteScheduler':
      return { use: 'euler' };
    case 'EulerAncestralDiscreteScheduler':
      return { use: 'euler-a', eta: 1 };
    case 'DPMSolverMultistepScheduler':
      return { use: 'dpm++2m' };
    default:
      return { use: 'ddim' };
  }
};
