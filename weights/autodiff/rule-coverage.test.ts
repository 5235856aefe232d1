import { describe, expect, test } from 'bun:test';
import { GraphBuilder } from '../onnx/builder.ts';
import { coverageReport, nodeTestRowsOf } from './coverage-report.ts';
import { ruleCoverage } from './rule-coverage.ts';
import { ruleTable, unsupportedWhy } from './rule-table.ts';

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

describe('coverageReport (pseudoword grad --coverage)', () => {
  test('names every refused op with its reason, every gradient-free op, and the node-test total line', () => {
    const r = coverageReport();
    for (const [op, why] of Object.entries(unsupportedWhy)) expect(r).toContain(`${op}: ${why}`);
    for (const [op, e] of Object.entries(ruleTable)) if (e === 'zero') expect(r).toContain(op);
    expect(r).toMatch(/\| \*\*all\*\* \| \d+ \| \d+ \(\d+\.\d %\)/);
  });

  test("gives inspect the node-test rows of a model's ops only", () => {
    expect(nodeTestRowsOf(['Conv', 'NotAnOp']).map((r) => r.op)).toEqual(['Conv']);
  });
});
