import { describe, expect, test } from 'bun:test';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { checkGrads } from './check-grads.ts';
import { gradCases } from './grad-cases.ts';
import { ruleTable } from './rule-table.ts';

describe('every VJP rule against central differences', () => {
  test.each(gradCases.map((row) => [row.name, row] as const))('%s matches central differences', async (_name, row) => {
    const checks = await checkGrads(ortSessionFactory, row);
    expect(checks.length).toBeGreaterThan(0);
    for (const c of checks) {
      if (!(c.relL2 <= row.tol))
        console.error(row.name, c.name, c.relL2, c.analytic.slice(0, 6), c.numeric.slice(0, 6));
      expect(c.relL2).toBeLessThanOrEqual(row.tol);
    }
  });

  test('the table has a row for every op with a rule', () => {
    const ruled = Object.entries(ruleTable)
      .filter(([, e]) => typeof e === 'function')
      .map(([op]) => op);
    const missing = ruled.filter((op) => !gradCases.some((r) => r.op === op));
    expect(missing).toEqual([]);
  });
});
