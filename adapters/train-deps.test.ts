import { describe, expect, test } from 'bun:test';
import { trainGraphCache, trainSessionOptions } from './train-deps.ts';
import { cacheDir } from './project-paths.ts';
import { join } from 'node:path';
import { GraphBuilder } from '../weights/onnx/builder.ts';
import type { Model } from '../weights/onnx/proto.ts';

/** A graph whose one initializer declares `bytes` of external data (never read here). */
const withWeights = (bytes: number): Model => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [1]);
  b.graph.initializers.push({
    name: 'w',
    dims: [bytes / 4],
    dataType: 1,
    bytes: new Uint8Array(0),
    external: [
      { key: 'location', value: 'weights.bin' },
      { key: 'length', value: String(bytes) },
    ],
  });
  b.output(b.op('Identity', [x]), 'float32', [1], 'y');
  return b.toModel(17);
};

describe('the training session options', () => {
  test('open graphs with over 1 GiB of weights in lean-memory mode, smaller ones with the defaults', () => {
    expect(trainSessionOptions(withWeights(2 ** 30 + 4), 'cpu')).toEqual({ device: 'cpu', leanMemory: true });
    expect(trainSessionOptions(withWeights(2 ** 20), 'cpu')).toEqual({ device: 'cpu' });
  });
  test('follow the memory mode of the request: lean at any size, fast never lean, auto by size', () => {
    const [big, small] = [withWeights(2 ** 30 + 4), withWeights(2 ** 20)];
    expect(trainSessionOptions(small, 'cpu', 'lean')).toEqual({ device: 'cpu', leanMemory: true });
    expect(trainSessionOptions(big, 'cpu', 'fast')).toEqual({ device: 'cpu' });
    expect(trainSessionOptions(big, 'cpu', 'auto')).toEqual({ device: 'cpu', leanMemory: true });
  });
});

describe('the step graph cache', () => {
  test('keeps the optimised form of graphs over 1 GiB opened on the CPU, under the cache folder', () => {
    expect(trainGraphCache(withWeights(2 ** 30 + 4), 'cpu')?.dir).toBe(join(cacheDir(), 'sessions'));
    expect(trainGraphCache(withWeights(2 ** 30 + 4))?.maxBytes).toBeGreaterThan(0);
  });
  test('is not used for small graphs, nor on the GPU', () => {
    expect(trainGraphCache(withWeights(2 ** 20), 'cpu')).toBeUndefined();
    expect(trainGraphCache(withWeights(2 ** 30 + 4), 'cuda')).toBeUndefined();
  });
  test('is not used in fast memory mode, where a reopened graph ran slower steps', () => {
    expect(trainGraphCache(withWeights(2 ** 30 + 4), 'cpu', undefined, 'fast')).toBeUndefined();
    expect(trainGraphCache(withWeights(2 ** 30 + 4), 'cpu', undefined, 'lean')).toBeDefined();
  });
});
