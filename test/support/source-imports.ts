/**
 * Every source file of the project with the files it imports, read by TypeScript's own pre-processor (so imports
 * inside comments and strings do not count, and `import type` does). The layer and purity tests read the tree
 * through this one function.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const projectRoot = resolve(import.meta.dir, '../..');

export interface SourceFile {
  /** Path from the project root, with `/`. */
  readonly path: string;
  readonly text: string;
  /** Project files it imports (resolved, from the project root); package imports are in `packages`. */
  readonly imports: readonly string[];
  readonly packages: readonly string[];
}

const skip = new Set(['node_modules', 'shipped', 'fixtures', '.git', '.cache']);

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (skip.has(name)) return [];
    if (statSync(p).isDirectory()) return walk(p);
    return /\.(ts|js)$/.test(name) ? [p] : [];
  });

/** The sources below the given top-level folders. */
export const readSources = (folders: readonly string[]): SourceFile[] =>
  folders
    .filter((f) => existsSync(join(projectRoot, f)))
    .flatMap((f) => walk(join(projectRoot, f)))
    .map((abs) => {
      const text = readFileSync(abs, 'utf8');
      const specs = ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName);
      const path = relative(projectRoot, abs).split('\\').join('/');
      return {
        path,
        text,
        imports: specs
          .filter((s) => s.startsWith('.'))
          .map((s) =>
            relative(projectRoot, resolve(dirname(abs), s))
              .split('\\')
              .join('/'),
          ),
        packages: specs.filter((s) => !s.startsWith('.')),
      };
    });

export const isTest = (path: string): boolean => path.endsWith('.test.ts') || path.startsWith('test/');
