import { describe, expect, test } from 'bun:test';
import { trainSessionOptions } from './train-deps.ts';
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
});
