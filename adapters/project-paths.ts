/**
 * Where the project keeps what it builds: `$PSEUDOWORD_HOME`, else `.cache/` in the project folder. Models built
 * on first use (the embedded `tiny`) live there, never in the source tree.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const cacheDir = (): string => resolve(process.env.PSEUDOWORD_HOME ?? join(projectRoot, '.cache'));
