import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../onnx/builder.ts';
import { ruleCoverage } from './rule-coverage.ts';

/**
 * x → Relu → y, and x → Mystery → d, where Mystery is an op of a private domain (no rule can ever exist for it) and
 * only `d` depends on it.
 */
const twoOutputs = () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [2, 2]);
  b.output(b.op('Relu', [x]), 'float32', [2, 2], 'y');
  b.output(b.op('Mystery', [x], {}, { domain: 'com.example' }), 'float32', [2, 2], 'd');
  return b.toModel();
};

describe('ruleCoverage', () => {
  test('counts an op without a rule as missing only when an output asked about depends on it', () => {
    const m = twoOutputs();
    expect(ruleCoverage(m, ['y'])).toMatchObject({ missing: [], offPath: ['com.example::Mystery'] });
    expect(ruleCoverage(m, ['d'])).toMatchObject({ missing: ['com.example::Mystery'], offPath: [] });
    // Without outputs named, every output counts.
    expect(ruleCoverage(m)).toMatchObject({ missing: ['com.example::Mystery'], offPath: [] });
  });
});
