import { describe, expect, test } from 'bun:test';
import { coreFolders, layers } from './support/layers.ts';
import { isTest, readSources } from './support/source-imports.ts';

const core = readSources(coreFolders).filter((f) => !isTest(f.path));
const everything = readSources(layers.flatMap((l) => l.folders)).filter((f) => !isTest(f.path));

describe('the core', () => {
  test('uses no runtime-specific API outside adapters/', () => {
    const offenders = core
      .filter(
        (f) =>
          f.packages.some((p) => p.startsWith('node:')) ||
          /\bBun\.[a-z]|\bDeno\.[a-z]|\bprocess\.(env|argv|exit|stdout|stderr)/.test(f.text),
      )
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  test('imports onnxruntime-node only in the session adapter', () => {
    expect(everything.filter((f) => f.packages.includes('onnxruntime-node')).map((f) => f.path)).toEqual([
      'adapters/ort-session.ts',
    ]);
  });
});
