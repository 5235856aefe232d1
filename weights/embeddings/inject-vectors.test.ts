import { describe, expect, test } from 'bun:test';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { decodeModel, encodeModel } from '../onnx/proto.ts';
import { makeTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';
import { injectVectors, vectorsInput } from './inject-vectors.ts';
import { tensor } from '../../common/tensor.ts';

const model = await openModel('tiny');
const original = decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!);
const injected = injectVectors(original);
const ids = (row: number[]) => tensor('int32', [1, row.length], Int32Array.from(row));

describe('injecting learned vectors into a text encoder', () => {
  test('leaves the output unchanged for ids inside the table', async () => {
    const a = await ortSessionFactory.create(encodeModel(original));
    const b = await ortSessionFactory.create(encodeModel(injected.model));
    const row = model.tokenizer.tokenize('a photo of a red star').ids;
    const vectors = tensor('float32', [1, injected.dim], new Float32Array(injected.dim).fill(5));
    const ya = (await a.run({ input_ids: ids(row) })).last_hidden_state.data as Float32Array;
    const yb = (await b.run({ input_ids: ids(row), [vectorsInput]: vectors })).last_hidden_state.data as Float32Array;
    expect(Array.from(yb)).toEqual(Array.from(ya));
  });

  test('reads row id−V of the vectors for new ids, equal to a table with that row appended', async () => {
    const table = readTensorProto(original.graph.initializers.find((t) => t.name === injected.table)!);
    const v = Float32Array.from({ length: 2 * injected.dim }, (_, i) => Math.sin(i));
    const b = await ortSessionFactory.create(encodeModel(injected.model));
    const V = injected.tableRows;
    const row = [...model.tokenizer.tokenize('a photo of a').ids.slice(0, 5), V + 1, V, model.tokenizer.eosId];
    const got = (await b.run({ input_ids: ids(row), [vectorsInput]: tensor('float32', [2, injected.dim], v) }))
      .last_hidden_state.data;
    // Independent route: the original model with those rows written into ids 2 and 1 of its table.
    const patched = decodeModel(encodeModel(original));
    const data = Float32Array.from(table.data as Float32Array);
    data.set(v.subarray(injected.dim), 1 * injected.dim);
    data.set(v.subarray(0, injected.dim), 2 * injected.dim);
    patched.graph.initializers = patched.graph.initializers.map((t) =>
      t.name === injected.table ? makeTensorProto(t.name, tensor('float32', table.dims, data)) : t,
    );
    const a = await ortSessionFactory.create(encodeModel(patched));
    const want = (await a.run({ input_ids: ids(row.map((x) => (x === V + 1 ? 1 : x === V ? 2 : x))) }))
      .last_hidden_state.data;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((want[i] as number) - (got[i] as number)));
    expect(maxDiff).toBeLessThan(1e-6);
  });
});
