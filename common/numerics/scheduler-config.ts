import { z } from 'zod';
import { PipelineError } from '../errors.ts';

// The scheduler classes whose constructors default to "linspace" spacing (DDIMScheduler and PNDMScheduler default to
// "leading"). A file that names its class but not its spacing gets its class's default, as diffusers would give it.
const linspaceByDefault = new Set([
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'DPMSolverMultistepScheduler',
]);

const classDefaults = (json: unknown): unknown => {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  const c = json as Record<string, unknown>;
  const linspace = c.timestep_spacing === undefined && linspaceByDefault.has(String(c._class_name));
  return linspace ? { ...c, timestep_spacing: 'linspace' } : c;
};

/**
 * diffusers' `scheduler/scheduler_config.json`, as DDIMScheduler reads it.
 *
 * Defaults follow DDIMScheduler's constructor for every switch (clip_sample true, set_alpha_to_one true,
 * steps_offset 0, prediction_type epsilon, timestep_spacing leading, thresholding false, ratio 0.995,
 * sample_max_value 1, rescale_betas_zero_snr false, use_karras_sigmas false), with two exceptions. A file naming
 * EulerDiscreteScheduler, EulerAncestralDiscreteScheduler or DPMSolverMultistepScheduler as its `_class_name` and no
 * `timestep_spacing` gets those classes' default, "linspace". And the beta range: DDIMScheduler's own
 * default is linear 1e-4 → 0.02 (the pixel-space DDPM range), but every latent-diffusion checkpoint this project
 * loads is trained on scaled_linear 0.00085 → 0.012, and a config that omits the range means that one here.
 *
 * Unknown keys are kept (`loose`): real files carry `_class_name`, `_diffusers_version`, `skip_prk_steps`, … which
 * other readers may want, and which must not make a valid file fail.
 *
 * @example
 * const cfg = schedulerConfig.parse(JSON.parse(text)); // cfg.steps_offset === 1 for SD1.5
 */
export const schedulerConfig = z.preprocess(
  classDefaults,
  z
    .looseObject({
      num_train_timesteps: z.number().int().positive().default(1000),
      beta_start: z.number().positive().default(0.00085),
      beta_end: z.number().positive().default(0.012),
      beta_schedule: z.enum(['scaled_linear', 'linear', 'squaredcos_cap_v2']).default('scaled_linear'),
      // Real files write `"trained_betas": null` when unused.
      trained_betas: z.array(z.number().gt(0).lt(1)).nullish(),
      clip_sample: z.boolean().default(true),
      clip_sample_range: z.number().positive().default(1),
      set_alpha_to_one: z.boolean().default(true),
      steps_offset: z.number().int().nonnegative().default(0),
      prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
      timestep_spacing: z.enum(['leading', 'trailing', 'linspace']).default('leading'),
      thresholding: z.boolean().default(false),
      dynamic_thresholding_ratio: z.number().gt(0).lte(1).default(0.995),
      sample_max_value: z.number().positive().default(1),
      rescale_betas_zero_snr: z.boolean().default(false),
      // Karras et al. 2022 noise levels (ρ = 7) for the σ-space samplers; DDIM ignores it.
      use_karras_sigmas: z.boolean().default(false),
    })
    .refine((c) => c.trained_betas == null || c.trained_betas.length === c.num_train_timesteps, {
      message: 'trained_betas must have num_train_timesteps entries',
      path: ['trained_betas'],
    }),
);

/** A validated scheduler config with every default filled in. */
export type SchedulerConfig = z.output<typeof schedulerConfig>;

/**
 * Parses a scheduler config (the JSON value, not the text), turning a validation failure into
 * `PipelineError('bad_model')` that names the offending fields.
 *
 * @example
 * const cfg = parseSchedulerConfig({ steps_offset: 1, clip_sample: false });
 */
export const parseSchedulerConfig = (json: unknown): SchedulerConfig => {
  const r = schedulerConfig.safeParse(json ?? {});
  if (r.success) return r.data;
  const fields = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new PipelineError('bad_model', `scheduler_config.json is invalid: ${fields.join('; ')}`, {
    issues: r.error.issues,
  });
};
