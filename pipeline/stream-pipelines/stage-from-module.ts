/**
 * A user stage is a module: its default export (or an export named `stage`) is a stage definition, or the module
 * itself exports `input`, `output`, `settings` and `create`. Whatever it exports is checked here, so a module
 * that is not a stage is refused with the part that is missing named.
 */
import { streamKinds, type StreamKind } from '../../common/stream-items.ts';
import type { AnyStage } from './stage-definition.ts';

const isKind = (v: unknown): v is StreamKind => typeof v === 'string' && (streamKinds as readonly string[]).includes(v);
const record = (v: unknown): Record<string, unknown> | undefined =>
  (typeof v === 'object' || typeof v === 'function') && v !== null ? (v as Record<string, unknown>) : undefined;

/**
 * The stage a module exports, or a sentence saying what is wrong with it.
 * @example stageFromModule(await import('../stages-registry/grayscale.ts'), './grayscale.ts') // { name: 'grayscale', …
 * }
 */
export const stageFromModule = (mod: unknown, ref: string): AnyStage | string => {
  const m = record(mod);
  const d = record(m?.default) ?? record(m?.stage) ?? m;
  if (!d) return 'the module exports nothing';
  const missing = ['input', 'output', 'settings', 'create'].filter((k) => !(k in d));
  if (missing.length)
    return `the module exports no stage: its default export (or 'stage') lacks ${missing.join(', ')} — see docs/writing-a-stage.md`;
  if (!isKind(d.input)) return `input must be one of ${streamKinds.join(', ')}, got ${JSON.stringify(d.input)}`;
  if (!isKind(d.output)) return `output must be one of ${streamKinds.join(', ')}, got ${JSON.stringify(d.output)}`;
  if (typeof record(d.settings)?.safeParse !== 'function') return 'settings must be a zod schema';
  if (typeof d.create !== 'function') return 'create must be a function (settings, ctx) => operator';
  const name = typeof d.name === 'string' && d.name ? d.name : ref;
  return { ...(d as unknown as AnyStage), name, summary: typeof d.summary === 'string' ? d.summary : '' };
};
