/**
 * What the autodiff covers, for `pseudoword grad --coverage` and `pseudoword inspect`: the per-op table measured on
 * ONNX's backend node tests (node-test-coverage.ts, the README's table), the rule table's other rules, its
 * gradient-free ops and its refusals with their reasons.
 */
import { nodeTestCoverage } from './node-test-coverage.ts';
import { formatOpTable, type OpRow } from './node-test-table.ts';
import { ruleTable, unsupportedWhy } from './rule-table.ts';

/** The node-test rows of the given ops (those that have one), in the table's order. */
export const nodeTestRowsOf = (ops: readonly string[]): OpRow[] => {
  const want = new Set(ops);
  return nodeTestCoverage.filter((r) => want.has(r.op));
};

/**
 * The whole coverage as text.
 *
 * @example
 * coverageReport() // '| op | cases | pass | …\n…\nRefused:\n  Unique: it has one output entry per distinct value…'
 */
export const coverageReport = (): string => {
  const tested = new Set(nodeTestCoverage.map((r) => r.op));
  const entries = Object.entries(ruleTable);
  const ops = (pred: (e: (typeof entries)[number][1]) => boolean) =>
    entries
      .filter(([, e]) => pred(e))
      .map(([op]) => op)
      .sort();
  const untested = ops((e) => typeof e === 'function').filter((op) => !tested.has(op));
  return [
    "Gradients checked on ONNX's backend node tests (libonnx-testdata 1.12; re-measure with",
    '`npx bun bench/autodiff-node-tests.ts --write`):',
    '',
    formatOpTable(nodeTestCoverage),
    '',
    `Rules checked by the finite-difference table only (no node test of theirs counts): ${untested.join(' ')}`,
    '',
    'No gradient flows (integer, boolean or shape outputs, or piecewise constant: the derivative is 0 almost',
    `everywhere): ${ops((e) => e === 'zero').join(' ')}`,
    '',
    'Refused:',
    ...Object.entries(unsupportedWhy).map(([op, why]) => `  ${op}: ${why}`),
    '',
  ].join('\n');
};
