import { describe, expect, test } from 'bun:test';
import type { NodeTestOutcome } from './node-test-check.ts';
import { formatOpTable, opRows } from './node-test-table.ts';

const outcomes: NodeTestOutcome[] = [
  { name: 'test_sin', op: 'Sin', status: 'pass', worst: 2e-11 },
  { name: 'test_sin_example', op: 'Sin', status: 'fail', worst: 0.3 },
  { name: 'test_det_2d', op: 'Det', status: 'refused', reason: 'needs a matrix inverse' },
  { name: 'test_det_nd', op: 'Det', status: 'refused', reason: 'needs a matrix inverse' },
  { name: 'test_shape', op: 'Shape', status: 'skipped', reason: 'Shape passes no gradient' },
  { name: 'test_sin_expanded', op: 'sin_expanded (expanded)', status: 'pass', worst: 1e-11 },
];

describe('the per-op table of node-test outcomes', () => {
  test('counts cases and passes per op, keeps the worst error, tallies the rest, files function bodies under their op and leaves skipped cases out', () => {
    expect(opRows(outcomes)).toEqual([
      { op: 'Det', cases: 2, pass: 0, worst: 0, other: 'refused ×2' },
      { op: 'Sin', cases: 2, pass: 1, worst: 0.3, other: 'fail ×1' },
      { op: 'Sin (expanded)', cases: 1, pass: 1, worst: 1e-11, other: '' },
    ]);
  });

  test('ends the Markdown table with the total and the pass rate', () => {
    const lines = formatOpTable(opRows(outcomes)).split('\n');
    expect(lines[2]).toBe('| Det | 2 | 0 | 0 | refused ×2 |');
    expect(lines.at(-1)).toBe('| **all** | 5 | 2 (40.0 %) | | |');
  });
});
