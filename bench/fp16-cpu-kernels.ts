/**
 * Which ops onnxruntime-node's CPU provider runs in float16, as a fact to read rather than guess: one single-op
 * model per op with float16 inputs and outputs, loaded and run twice — with graph optimisation off and 'all'.
 * onnxruntime's session init inserts Cast pairs around float16 nodes that have no CPU kernel (its
 * InsertCastTransformer), so "runs" does not mean "a float16 kernel": the third column says whether a float16
 * kernel exists, read from a model whose float16 node has no cast path (a node in a custom domain cannot be cast
 * around, so we read it from the error instead — see the README's *float16 exports*).
 *
 *   npx bun bench/fp16-cpu-kernels.ts
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ortSessionFactory } from '../adapters/ort-session.ts';
import { GraphBuilder, f } from '../weights/onnx/builder.ts';
import { decodeModel, encodeModel } from '../weights/onnx/proto.ts';
import { halfArray } from '../common/numerics/half.ts';
import { tensor } from '../common/tensor.ts';

interface Row {
  op: string;
  ins: ([number[]] | [number[], 'int64' | 'float32', number[]])[];
  attrs?: Record<string, unknown>;
  opset?: number;
}
const rows: Row[] = [
  { op: 'Conv', ins: [[[1, 4, 8, 8]], [[8, 4, 3, 3]], [[8]]], attrs: { pads: [1, 1, 1, 1] } },
  { op: 'ConvTranspose', ins: [[[1, 4, 8, 8]], [[4, 8, 2, 2]]], attrs: { strides: [2, 2] } },
  { op: 'MatMul', ins: [[[2, 3, 4]], [[4, 5]]] },
  { op: 'Gemm', ins: [[[3, 4]], [[5, 4]], [[5]]], attrs: { transB: 1 } },
  { op: 'Softmax', ins: [[[2, 6]]], attrs: { axis: -1 } },
  { op: 'LayerNormalization', ins: [[[2, 3, 8]], [[8]], [[8]]], attrs: { axis: -1 } },
  { op: 'InstanceNormalization', ins: [[[1, 4, 8]], [[4]], [[4]]] },
  { op: 'GroupNormalization', ins: [[[1, 4, 8, 8]], [[4]], [[4]]], attrs: { num_groups: 2 }, opset: 21 },
  { op: 'Add', ins: [[[2, 3]], [[3]]] },
  { op: 'Sub', ins: [[[2, 3]], [[3]]] },
  { op: 'Mul', ins: [[[2, 3]], [[3]]] },
  { op: 'Div', ins: [[[2, 3]], [[3]]] },
  { op: 'Pow', ins: [[[2, 3]], [[3]]] },
  { op: 'Sqrt', ins: [[[2, 3]]] },
  { op: 'Exp', ins: [[[2, 3]]] },
  { op: 'Sin', ins: [[[2, 3]]] },
  { op: 'Cos', ins: [[[2, 3]]] },
  { op: 'Erf', ins: [[[2, 3]]] },
  { op: 'Sigmoid', ins: [[[2, 3]]] },
  { op: 'Tanh', ins: [[[2, 3]]] },
  { op: 'Relu', ins: [[[2, 3]]] },
  { op: 'Gelu', ins: [[[2, 3]]], opset: 20 },
  { op: 'Neg', ins: [[[2, 3]]] },
  { op: 'ReduceMean', ins: [[[2, 3]]], attrs: { axes: [1] } },
  { op: 'ReduceSum', ins: [[[2, 3]], [[1], 'int64', [1]]] },
  { op: 'Transpose', ins: [[[2, 3]]] },
  { op: 'Concat', ins: [[[2, 3]], [[2, 3]]], attrs: { axis: 0 } },
  { op: 'Where', ins: [[[2, 3]], [[2, 3]]] },
  { op: 'Gather', ins: [[[4, 3]], [[2], 'int64', [0, 2]]] },
  {
    op: 'Resize',
    ins: [[[1, 2, 3, 3]], [[0], 'float32', []], [[4], 'float32', [1, 1, 2, 2]]],
    attrs: { mode: 'nearest' },
  },
  { op: 'Expand', ins: [[[1, 3]], [[2], 'int64', [2, 3]]] },
  { op: 'Slice', ins: [[[4, 3]], [[1], 'int64', [1]], [[1], 'int64', [3]]] },
  { op: 'ScatterND', ins: [[[4, 3]], [[1, 1], 'int64', [2]], [[1, 3]]], attrs: { reduction: 'add' } },
  { op: 'ScatterElements', ins: [[[4, 3]], [[1, 3], 'int64', [0, 1, 2]], [[1, 3]]], attrs: { reduction: 'add' } },
  { op: 'Max', ins: [[[2, 3]], [[2, 3]]] },
  { op: 'Clip', ins: [[[2, 3]]] },
  { op: 'Cast', ins: [[[2, 3]]], attrs: { to: 1 } },
  { op: 'CumSum', ins: [[[2, 3]], [[], 'int64', [1]]] },
  { op: 'Einsum', ins: [[[2, 3]], [[3, 4]]], attrs: { equation: 'ij,jk->ik' } },
  { op: 'Softplus', ins: [[[2, 3]]] },
];

const attrOf = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? f(v) : v);
const probe = async (r: Row, optimization: 'disabled' | 'all'): Promise<string> => {
  const b = new GraphBuilder();
  const feeds: Record<string, any> = {};
  const names = r.ins.map((spec, k) => {
    const [dims, dtype, values] = spec as [number[], string?, number[]?];
    const name = `x${k}`;
    if (r.op === 'Where' && k === 0) {
      b.input('cond', 'bool', [2, 3]);
      feeds.cond = tensor('bool', [2, 3], Uint8Array.of(1, 0, 1, 0, 1, 0));
    }
    if (dtype === 'int64') return b.constI64(values!, dims, name);
    if (dtype === 'float32') return b.constF(values!, dims, name);
    b.input(name, 'float16', dims);
    const n = dims.reduce((a, d) => a * d, 1);
    feeds[name] = tensor('float16', dims, halfArray(Float32Array.from({ length: n }, (_, i) => 0.1 + (i % 7) * 0.2)));
    return name;
  });
  const ins = r.op === 'Where' ? ['cond', ...names] : names;
  const y = b.op(r.op, ins, Object.fromEntries(Object.entries(r.attrs ?? {}).map(([k, v]) => [k, attrOf(v)])) as any);
  b.output(y, r.op === 'Cast' ? 'float32' : 'float16', null, 'y');
  const saved = join(tmp, `${r.op}-${optimization}.onnx`);
  try {
    // onnxruntime is opened directly (not through adapters/ort-session.ts) only to save the graph it runs.
    const s = await ort.InferenceSession.create(encodeModel(b.toModel(r.opset ?? 17)), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: optimization,
      optimizedModelFilePath: saved,
      logSeverityLevel: 3,
    });
    await s.release();
    const run = await ortSessionFactory.create(encodeModel(b.toModel(r.opset ?? 17)), { optimization });
    await run.run(feeds);
    await run.release();
    const ran = decodeModel(new Uint8Array(readFileSync(saved))).graph.nodes;
    const casts = ran.filter((n) => n.opType === 'Cast').length - (r.op === 'Cast' ? 1 : 0);
    return casts > 0 ? `float32 (${casts} Casts inserted)` : 'float16 kernel';
  } catch (e: any) {
    return `fails: ${String(e?.message ?? e).slice(0, 90)}`;
  }
};
const tmp = mkdtempSync(join(tmpdir(), 'fp16-kernels-'));

console.log('op | optimisation off | optimisation all');
for (const r of rows) console.log(`${r.op} | ${await probe(r, 'disabled')} | ${await probe(r, 'all')}`);
rmSync(tmp, { recursive: true });
