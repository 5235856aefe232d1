import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dir, '..');
const coreDirs = ['pipeline', 'stages', 'weights'];

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });

describe('the core', () => {
  test('uses no runtime-specific API outside adapters/', () => {
    const offenders = coreDirs
      .flatMap((d) => sources(join(root, d)))
      .filter((p) => /from ['"]node:|\bBun\.[a-z]|\bDeno\.[a-z]|\bprocess\.(env|argv|exit|stdout|stderr)/.test(readFileSync(p, 'utf8')))
      .map((p) => p.slice(root.length + 1));
    expect(offenders).toEqual([]);
  });

  test('imports onnxruntime-node only in the session adapter', () => {
    const all = [...coreDirs, 'adapters'].flatMap((d) => sources(join(root, d)));
    const importers = all.filter((p) => /from ['"]onnxruntime-node['"]/.test(readFileSync(p, 'utf8'))).map((p) => p.slice(root.length + 1));
    expect(importers).toEqual(['adapters/ort-session.ts']);
  });
});
