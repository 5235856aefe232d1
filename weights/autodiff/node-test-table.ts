/**
 * The per-op summary of the node-test gradient checks (node-test-check.ts): cases, passes and the worst error per
 * op, as a Markdown table for the README and `bench/autodiff-node-tests.ts`.
 */
import type { NodeTestOutcome } from './node-test-check.ts';

/** One op's line: how its node tests fared. */
export interface OpRow {
  op: string;
  cases: number;
  pass: number;
  /** Worst error over the cases that ran the check (pass or fail). */
  worst: number;
  /** How the others ended: 'refused ×2, invalid ×1'. */
  other: string;
}

/** Outcomes that count: everything but the skipped (nothing differentiable in the test). */
export const counted = (os: readonly NodeTestOutcome[]): NodeTestOutcome[] => os.filter((o) => o.status !== 'skipped');

/**
 * One row per op over the counted outcomes, sorted by op.
 *
 * @example
 * opRows([{ name: 'test_sin', op: 'Sin', status: 'pass', worst: 1e-10 }]) // [{ op: 'Sin', cases: 1, pass: 1, … }]
 */
export const opRows = (os: readonly NodeTestOutcome[]): OpRow[] => {
  // An `_expanded` test (the op's function body) is filed under its twin's op.
  const opOf = new Map(os.map((o) => [o.name, o.op]));
  const key = (o: NodeTestOutcome) => {
    const twin = o.name.endsWith('_expanded') ? opOf.get(o.name.slice(0, -'_expanded'.length)) : undefined;
    return twin && !twin.endsWith('(expanded)') ? `${twin} (expanded)` : o.op;
  };
  const by = new Map<string, NodeTestOutcome[]>();
  for (const o of counted(os)) by.set(key(o), [...(by.get(key(o)) ?? []), o]);
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([op, list]) => {
      const tally = new Map<string, number>();
      for (const o of list) if (o.status !== 'pass') tally.set(o.status, (tally.get(o.status) ?? 0) + 1);
      return {
        op,
        cases: list.length,
        pass: list.filter((o) => o.status === 'pass').length,
        worst: Math.max(0, ...list.map((o) => o.worst ?? 0)),
        other: [...tally.entries()].map(([s, n]) => `${s} ×${n}`).join(', '),
      };
    });
};

/** The rows as a Markdown table, with a total line. */
export const formatOpTable = (rows: readonly OpRow[]): string => {
  const cases = rows.reduce((a, r) => a + r.cases, 0);
  const pass = rows.reduce((a, r) => a + r.pass, 0);
  const lines = [
    '| op | cases | pass | worst error | not passing |',
    '|---|---:|---:|---:|---|',
    ...rows.map(
      (r) => `| ${r.op} | ${r.cases} | ${r.pass} | ${r.worst ? r.worst.toExponential(1) : '0'} | ${r.other} |`,
    ),
    `| **all** | ${cases} | ${pass} (${((100 * pass) / Math.max(cases, 1)).toFixed(1)} %) | | |`,
  ];
  return lines.join('\n');
};
