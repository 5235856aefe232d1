/**
 * The models the project builds itself, so every command works on a machine that cannot download one: `tiny`
 * (SD1.x structure, trained and shipped) and `tiny-xl` (SDXL structure, untrained, built on first use). A request
 * naming one of these opens it without any folder being allowed.
 */
export const embeddedModelNames = ['tiny', 'tiny-xl'] as const;
export type EmbeddedModelName = (typeof embeddedModelNames)[number];

/**
 * Whether a model name is an embedded model rather than a folder.
 * @example
 * isEmbeddedModel('tiny-xl') // true
 */
export const isEmbeddedModel = (name: string): name is EmbeddedModelName =>
  (embeddedModelNames as readonly string[]).includes(name);
