/**
 * The stages every pipeline description may `use` by name. A user stage (a module path in `use`) has the same
 * shape and is looked up beside these.
 */
import { denoiseStage, noiseToStrengthStage } from './diffusion-stages.ts';
import { decodeImageStage, vaeDecodeStage, vaeEncodeStage } from './image-stages.ts';
import { generateStage, trainStage } from './run-stages.ts';
import type { AnyStage } from './stage-definition.ts';

/**
 * The built-in stages, in the order `GET /v1/pipelines/stages` lists them.
 * @example builtInStages.map((s) => s.name) // ['decode-image', 'vae-encode', …]
 */
export const builtInStages: readonly AnyStage[] = [
  decodeImageStage,
  vaeEncodeStage,
  vaeDecodeStage,
  noiseToStrengthStage,
  denoiseStage,
  generateStage,
  trainStage,
];

/** A name → stage table. */
export type StageRegistry = ReadonlyMap<string, AnyStage>;

/**
 * A registry of the built-ins plus `extra` stages (a host's own, or test doubles); an extra stage with a
 * built-in's name replaces it.
 * @example stageRegistry().get('vae-encode')?.output // 'latent'
 */
export const stageRegistry = (extra: readonly AnyStage[] = []): StageRegistry =>
  new Map([...builtInStages, ...extra].map((s) => [s.name, s]));
