/**
 * ONNX's own backend node tests, as Debian's `libonnx-testdata` package installs them: one folder per test with a
 * `model.onnx` and `test_data_set_0/input_<k>.pb` TensorProto files. The gradient harness
 * (weights/autodiff/node-test-check.ts) reads them through here; CI installs the package (`.ci/run`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeTestCase } from '../../weights/autodiff/node-test-check.ts';

/** Where `apt-get install libonnx-testdata` (1.12.0, Debian) puts the node tests: a system path, not ours. */
export const onnxNodeTestsDir = '/usr/share/libonnx-testdata/data/node';

/** Whether the package is installed. */
export const haveOnnxNodeTests = (): boolean => existsSync(join(onnxNodeTestsDir, 'test_sin', 'model.onnx'));

/** The test folders' names, sorted, optionally only those whose name contains `filter`. */
export const onnxNodeTestNames = (filter = ''): string[] =>
  readdirSync(onnxNodeTestsDir)
    .filter((n) => n.startsWith('test_') && n.includes(filter) && existsSync(join(onnxNodeTestsDir, n, 'model.onnx')))
    .sort();

/** A file's bytes as a plain Uint8Array (a Buffer's `slice` is a view into a shared pool, not a copy). */
const bytesOf = (path: string) => new Uint8Array(readFileSync(path));

/** One test's model and first data set's inputs, in input order. */
export const readOnnxNodeTest = (name: string): NodeTestCase => {
  const dir = join(onnxNodeTestsDir, name);
  const data = join(dir, 'test_data_set_0');
  const inputs: Uint8Array[] = [];
  for (let k = 0; existsSync(join(data, `input_${k}.pb`)); k++) inputs.push(bytesOf(join(data, `input_${k}.pb`)));
  return { name, model: bytesOf(join(dir, 'model.onnx')), inputs };
};
