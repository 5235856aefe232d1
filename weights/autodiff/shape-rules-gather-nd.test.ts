import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../onnx/builder.ts';
import { ValueFacts } from './shape-infer.ts';

/** CLIP's pooling (GatherND with batch_dims 1, one index per row), and the plain form (batch_dims 0). */
describe('shape inference for GatherND', () => {
  test('gives indices.shape[:-1] ++ data.shape[batch_dims + k:] — the pooled [batch, width] of CLIP’s pooling', () => {
    const b = new GraphBuilder();
    const hidden = b.input('hidden', 'float32', ['batch', 77, 64]);
    const idx = b.input('idx', 'int64', ['batch', 1]);
    const pooled = b.op('GatherND', [hidden, idx], { batch_dims: 1 });
    const pairs = b.input('pairs', 'int64', [5, 2]);
    const picked = b.op('GatherND', [hidden, pairs], {});
    const open = b.input('open', 'int64', [3, 'k']);
    const unknown = b.op('GatherND', [hidden, open], {});
    const facts = ValueFacts.forGraph(b.graph, 17);
    expect(facts.get(pooled)?.shape).toEqual(['batch', 64]);
    expect(facts.get(picked)?.shape).toEqual([5, 64]);
    // An index depth not known statically leaves the rank unknown rather than guessing.
    expect(facts.get(unknown)?.shape).toBeUndefined();
  });
});
