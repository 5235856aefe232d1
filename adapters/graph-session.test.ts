import { describe, expect, test } from 'bun:test';
import {
  existsSync,
  readFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedCopy, openGraph, savedBytes, weightBytes } from './graph-session.ts';
import { cacheDir } from './project-paths.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import type { Model } from '../weights/onnx/proto.ts';
import { makeExternalTensorProto } from '../weights/onnx/tensor-proto.ts';
import { tensor } from '../common/tensor.ts';

const runId = `${process.pid}_${Date.now()}`;

// y = x + w, with w's three floats in an external-data file `w.bin` of a model folder.
const graph = (): Model => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [3]);
  b.addTensorProto(makeExternalTensorProto('w', 'float32', [3], 'w.bin', 0, 12));
  // A node name of its own per test run: no earlier run has opened (or cached) this very graph.
  b.output(b.op('Add', [x, 'w'], {}, { name: `add_${runId}` }), 'float32', [3], 'y');
  return b.toModel(17);
};
/** Replaces the folder's w.bin by a new file (a new inode, as an export tool writing the folder again does). */
const writeWeights = (dir: string, w: number[]) => {
  writeFileSync(join(dir, 'w.bin.new'), new Uint8Array(Float32Array.from(w).buffer));
  renameSync(join(dir, 'w.bin.new'), join(dir, 'w.bin'));
};
const run = async (dir: string) => {
  const s = await openGraph(graph(), (_, loc) => join(dir, loc));
  return Array.from((await s.run({ x: tensor('float32', [3], Float32Array.of(1, 1, 1)) })).y.data as Float32Array);
};
/** Everything in the cache's graph folder (other tests' opens remove theirs too). */
const openFolders = () => {
  try {
    return readdirSync(join(cacheDir(), 'graphs'));
  } catch {
    return [];
  }
};

describe('opening a built graph whose weights live in a model folder', () => {
  test('leaves no folder behind in the cache, and the session runs on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-graph-'));
    writeWeights(dir, [1, 2, 3]);
    const before = openFolders();
    expect(await run(dir)).toEqual([2, 3, 4]);
    expect(openFolders().filter((f) => !before.includes(f))).toEqual([]);
    rmSync(dir, { recursive: true });
  });

  test('removes the per-graph folders earlier versions kept, and open folders a day old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-graph-'));
    writeWeights(dir, [1, 2, 3]);
    const old = join(cacheDir(), 'graphs', '0123456789abcdef');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'model.onnx'), 'stale');
    // And a day-old open folder (a process that died mid-open), beside a fresh one (an open in progress elsewhere).
    const [dead, live] = ['open-dead00', 'open-live00'].map((f) => join(cacheDir(), 'graphs', f));
    for (const f of [dead, live]) mkdirSync(f, { recursive: true });
    const dayAgo = new Date(Date.now() - 864e5 - 60e3);
    utimesSync(dead, dayAgo, dayAgo);
    expect(await run(dir)).toEqual([2, 3, 4]);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    rmSync(live, { recursive: true });
    rmSync(dir, { recursive: true });
  });

  test('reads the weights the folder holds now, not those of an earlier open of the same graph', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-graph-'));
    writeWeights(dir, [1, 2, 3]);
    expect(await run(dir)).toEqual([2, 3, 4]);
    writeWeights(dir, [10, 20, 30]);
    expect(await run(dir)).toEqual([11, 21, 31]);
    rmSync(dir, { recursive: true });
  });

  test('copies a weight file once per version when it cannot be linked, and drops copies unused for a week', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-graph-'));
    writeWeights(dir, [1, 2, 3]);
    const file = join(dir, 'w.bin');
    const first = cachedCopy(file);
    expect(cachedCopy(file)).toBe(first);
    expect(new Float32Array(readFileSync(first).buffer.slice(0))).toEqual(Float32Array.of(1, 2, 3));
    writeWeights(dir, [4, 5, 6]); // a new file: another copy, the new bytes
    const second = cachedCopy(file);
    expect(second).not.toBe(first);
    expect(new Float32Array(readFileSync(second).buffer.slice(0))).toEqual(Float32Array.of(4, 5, 6));
    const weekAgo = new Date(Date.now() - 8 * 864e5);
    utimesSync(first, weekAgo, weekAgo);
    cachedCopy(file);
    expect(existsSync(first)).toBe(false);
    expect(existsSync(second)).toBe(true);
    rmSync(second);
    rmSync(dir, { recursive: true });
  });
});

describe("the size of a step graph's optimised form", () => {
  test('counts every weight once and each conv kernel a second time (its folded flipped copy)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 2, 4, 4]);
    b.addTensorProto(makeExternalTensorProto('k', 'float32', [2, 2, 3, 3], 'w.bin', 0, 144));
    b.addTensorProto(makeExternalTensorProto('s', 'float32', [1, 2, 1, 1], 'w.bin', 144, 8));
    b.output(b.op('Mul', [b.op('Conv', [x, 'k'], { pads: [1, 1, 1, 1] }), 's']), 'float32', [1, 2, 4, 4], 'y');
    const m = b.toModel(17);
    expect(weightBytes(m)).toBe(152);
    expect(savedBytes(m)).toBe(152 + 144);
  });
});
