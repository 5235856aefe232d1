import { afterAll, describe, expect, test } from 'bun:test';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGraph } from './graph-session.ts';
import { pruneSessionCache, type SessionCache, sessionCacheAt, sessionCacheKey } from './session-cache.ts';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import { decodeModel, type Model } from '../weights/onnx/proto.ts';
import { makeExternalTensorProto } from '../weights/onnx/tensor-proto.ts';
import { tensor } from '../common/tensor.ts';

const n = 512; // 2 KiB of weights: over onnxruntime's 1 KiB threshold, so the folded constant goes in model.data

// y = x + 2·w, w in an external-data file `w.bin` of a model folder: onnxruntime folds 2·w into one constant.
const graph = (): Model => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [n]);
  b.addTensorProto(makeExternalTensorProto('w', 'float32', [n], 'w.bin', 0, 4 * n));
  const two = b.initializer('two', tensor('float32', [], Float32Array.of(2)));
  b.output(b.op('Add', [x, b.op('Mul', ['w', two])]), 'float32', [n], 'y');
  return b.toModel(17);
};
const modelFolder = (w: number) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-sc-model-'));
  writeWeights(dir, w);
  return dir;
};
/** Writes w.bin as a new file (a new inode, as an export tool writing the folder again does). */
const writeWeights = (dir: string, w: number) => {
  writeFileSync(join(dir, 'w.bin.new'), new Uint8Array(new Float32Array(n).fill(w).buffer));
  renameSync(join(dir, 'w.bin.new'), join(dir, 'w.bin'));
};
const newCache = (maxBytes = 2 ** 30): SessionCache & { said: string[] } => {
  const said: string[] = [];
  const root = mkdtempSync(join(tmpdir(), 'pw-sc-'));
  made.push(root);
  return { dir: join(root, 'sessions'), maxBytes, log: (m) => said.push(m), said };
};
/** Opens the graph with the cache and returns y[0] for x = 1. */
const y0 = async (folder: string, cache: SessionCache, options = {}) => {
  const s = await openGraph(graph(), (_, loc) => join(folder, loc), options, cache);
  const y = (await s.run({ x: tensor('float32', [n], new Float32Array(n).fill(1)) })).y.data as Float32Array;
  await s.release();
  return y[0];
};
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const entries = (c: SessionCache) => (existsSync(c.dir) ? readdirSync(c.dir) : []);

describe('the optimised step graph kept between runs', () => {
  test("saves onnxruntime's optimised graph once, and the next open runs that graph", async () => {
    const folder = modelFolder(3);
    const cache = newCache();
    expect(await y0(folder, cache)).toBe(7);
    const [key] = entries(cache);
    expect(entries(cache)).toHaveLength(1);
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    // What was saved is the optimised graph: the Mul is folded into a constant, held in model.data.
    const saved = decodeModel(readFileSync(join(cache.dir, key, 'model.onnx')));
    expect(saved.graph.nodes.map((x) => x.opType)).not.toContain('Mul');
    const data = join(cache.dir, key, 'model.data');
    expect(readFileSync(data).byteLength).toBeGreaterThanOrEqual(4 * n);
    // The next open reads the entry, not the model folder: change the saved constant and the output follows it.
    writeFileSync(data, new Uint8Array(new Float32Array(n).fill(10).buffer));
    expect(await y0(folder, cache)).toBe(11);
    expect(cache.said.join('\n')).toContain('earlier run');
    expect(entries(cache)).toHaveLength(1);
    rmSync(folder, { recursive: true });
  });

  test('makes a new entry when the weight files or the session options change, never reusing old weights', async () => {
    const folder = modelFolder(3);
    const cache = newCache();
    expect(await y0(folder, cache)).toBe(7);
    writeWeights(folder, 5);
    expect(await y0(folder, cache)).toBe(11);
    expect(entries(cache)).toHaveLength(2);
    expect(await y0(folder, cache, { threads: 1 })).toBe(11);
    expect(entries(cache)).toHaveLength(3);
    rmSync(folder, { recursive: true });
  });

  test('two opens of the same graph at once both run, and leave one entry and no unfinished folder', async () => {
    const folder = modelFolder(3);
    const cache = newCache();
    expect(await Promise.all([y0(folder, cache), y0(folder, cache)])).toEqual([7, 7]);
    expect(entries(cache)).toHaveLength(1);
    expect(entries(cache)[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(await y0(folder, cache)).toBe(7);
    rmSync(folder, { recursive: true });
  });

  test('makes a damaged entry again instead of failing the open', async () => {
    const folder = modelFolder(3);
    const cache = newCache();
    await y0(folder, cache);
    const [key] = entries(cache);
    writeFileSync(join(cache.dir, key, 'model.onnx'), 'not a model');
    expect(await y0(folder, cache)).toBe(7);
    expect(cache.said.join('\n')).toContain('did not open');
    expect(decodeModel(readFileSync(join(cache.dir, key, 'model.onnx'))).graph.nodes.length).toBeGreaterThan(0);
    rmSync(folder, { recursive: true });
  });

  test('keeps nothing when the graph would not fit its bound, or the bound is 0, and still opens', async () => {
    const folder = modelFolder(3);
    const small = newCache(1024);
    expect(await y0(folder, small)).toBe(7);
    expect(entries(small)).toEqual([]);
    expect(small.said.join('\n')).toContain('exceed the cache');
    const off = newCache(0);
    expect(await y0(folder, off)).toBe(7);
    expect(entries(off)).toEqual([]);
    rmSync(folder, { recursive: true });
  });

  test('drops unfinished entries a day old, entries unused for two weeks, and the least recently used over the bound', () => {
    const cache = newCache(3000);
    const make = (name: string, bytes: number, ageMs: number) => {
      mkdirSync(join(cache.dir, name), { recursive: true });
      writeFileSync(join(cache.dir, name, 'model.data'), new Uint8Array(bytes));
      const t = new Date(Date.now() - ageMs);
      utimesSync(join(cache.dir, name), t, t);
    };
    make('old', 10, 15 * 864e5);
    make('dead.1.part', 10, 2 * 864e5);
    make('writing.2.part', 10, 60e3);
    make('lru', 1500, 3 * 3600e3);
    make('recent', 1500, 3600e3);
    make('new', 1500, 0);
    pruneSessionCache(cache, 'new');
    expect(entries(cache).sort()).toEqual(['new', 'recent', 'writing.2.part']);
  });

  test('keys an entry by the graph, the weight files, the options and the runtime, and by nothing else', () => {
    const folder = modelFolder(3);
    const w = join(folder, 'w.bin');
    const key = (g = 'graph', o = {}, r = 'rt') => sessionCacheKey(new TextEncoder().encode(g), [w], o, r);
    expect(key()).toBe(key());
    expect(key('graph', { threads: 1, leanMemory: true })).toBe(key('graph', { leanMemory: true, threads: 1 }));
    for (const other of [key('graph2'), key('graph', { threads: 1 }), key('graph', {}, 'rt2')])
      expect(other).not.toBe(key());
    const before = key();
    writeWeights(folder, 3); // the same bytes in a new file: another version
    expect(key()).not.toBe(before);
    rmSync(folder, { recursive: true });
  });

  test('takes its bound from PSEUDOWORD_SESSION_CACHE_GIB (24 GiB unless set; 0 turns it off)', () => {
    const was = process.env.PSEUDOWORD_SESSION_CACHE_GIB;
    try {
      delete process.env.PSEUDOWORD_SESSION_CACHE_GIB;
      expect(sessionCacheAt('/cache').maxBytes).toBe(24 * 2 ** 30);
      expect(sessionCacheAt('/cache').dir).toBe(join('/cache', 'sessions'));
      process.env.PSEUDOWORD_SESSION_CACHE_GIB = '0';
      expect(sessionCacheAt('/cache').maxBytes).toBe(0);
      process.env.PSEUDOWORD_SESSION_CACHE_GIB = '2.5';
      expect(sessionCacheAt('/cache').maxBytes).toBe(2.5 * 2 ** 30);
    } finally {
      if (was === undefined) delete process.env.PSEUDOWORD_SESSION_CACHE_GIB;
      else process.env.PSEUDOWORD_SESSION_CACHE_GIB = was;
    }
  });
});
