/**
 * The autodiff on ONNX's own backend node tests (Debian's libonnx-testdata): every test of a differentiable op
 * becomes a scalar loss, is differentiated with respect to its float inputs and checked by directional central
 * differences (weights/autodiff/node-test-check.ts). Prints the per-op table (the README's), then with `--why`
 * every case that did not pass and why, then a final JSON line with the totals. `--write` also rewrites
 * weights/autodiff/node-test-coverage.ts (the table `inspect` and `grad --coverage` print) from this run.
 *
 *   npx bun bench/autodiff-node-tests.ts [--filter conv] [--why] [--write]
 */
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { checkNodeTest, type NodeTestOutcome } from '../weights/autodiff/node-test-check.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { counted, coverageModule, formatOpTable, opRows } from '../weights/autodiff/node-test-table.ts';
import {
  haveOnnxNodeTests,
  onnxNodeTestNames,
  onnxNodeTestsDir,
  readOnnxNodeTest,
} from '../test/support/onnx-node-tests.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? '') : undefined;
};
if (!haveOnnxNodeTests()) {
  console.error(`no ONNX node tests in ${onnxNodeTestsDir}: apt-get install libonnx-testdata`);
  process.exit(1);
}
const outcomes: NodeTestOutcome[] = [];
for (const name of onnxNodeTestNames(arg('filter') ?? ''))
  outcomes.push(await checkNodeTest(ortSessionFactory, readOnnxNodeTest(name)));
console.log(formatOpTable(opRows(outcomes)));
if (process.argv.includes('--write')) {
  if (arg('filter')) throw new Error('--write needs the whole run (no --filter)');
  writeFileSync(join(import.meta.dir, '../weights/autodiff/node-test-coverage.ts'), coverageModule(opRows(outcomes)));
}
if (process.argv.includes('--why'))
  for (const o of counted(outcomes).filter((o) => o.status !== 'pass'))
    console.log(
      `${o.name} [${o.op}] ${o.status}${o.worst !== undefined ? ` ${o.worst.toExponential(1)}` : ''}: ${o.reason ?? ''}`.slice(
        0,
        400,
      ),
    );
const c = counted(outcomes);
console.log(
  JSON.stringify({
    cases: c.length,
    pass: c.filter((o) => o.status === 'pass').length,
    invalid: c.filter((o) => o.status === 'invalid').length,
    skipped: outcomes.length - c.length,
  }),
);
