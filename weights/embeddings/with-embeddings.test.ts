import { describe, expect, test } from 'bun:test';
import { lastValueFrom, toArray } from 'rxjs';
import { openModel } from '../../adapters/open-model.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';
import { runGenerate } from '../../pipeline/generate.ts';
import { parseGenerateRequest } from '../../common/requests.ts';
import type { PipelineError } from '../../common/errors.ts';
import { tensorFromWire, type Frame } from '../../common/frames.ts';
import type { SdModel } from '../model-folder.ts';
import type { ModelFiles } from '../model-files.ts';
import { decodeModel, encodeModel } from '../onnx/proto.ts';
import { makeExternalTensorProto, readTensorProto } from '../onnx/tensor-proto.ts';
import { runTextEncoder } from '../text-encoder-io.ts';
import { readEmbedding, writeEmbedding, type EmbeddingLayout } from './embedding-file.ts';
import { injectVectors } from './inject-vectors.ts';
import { prepareTextEncoder, withEmbeddings } from './with-embeddings.ts';

const model = await openModel('tiny');
const teModel = decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!);
const { table: tableName, tableRows, dim } = injectVectors(teModel);
const table = readTensorProto(teModel.graph.initializers.find((t) => t.name === tableName)!).data as Float32Array;
/** The frozen table's row of a word that the tokenizer keeps as one token. */
const rowOf = (word: string) => {
  const ids = model.tokenizer.encode(word);
  expect(ids).toHaveLength(1);
  return table.slice(ids[0] * dim, (ids[0] + 1) * dim);
};

// Embedding "files" live in memory: the core never touches a disk.
const store = new Map<string, Uint8Array>();
const put = (name: string, token: string, rows: Float32Array[], layout: EmbeddingLayout = 'diffusers') => {
  const vectors = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => vectors.set(r, i * dim));
  store.set(name, writeEmbedding({ token, vectors, count: rows.length, dim }, layout));
};
const deps = {
  openModel: async () => model,
  withEmbeddings: (m: SdModel, names: string[]) =>
    withEmbeddings(
      m,
      names.map((n) => ({ ...readEmbedding(store.get(n)!, { fileName: n }), fileName: n })),
      ortSessionFactory,
    ),
};
const frames = (o: Record<string, unknown>) =>
  lastValueFrom(
    runGenerate(parseGenerateRequest({ steps: 3, seed: 7, ...o }), deps, { preview: { use: 'none' } }).pipe(toArray()),
  );
const failure = (o: Record<string, unknown>) =>
  frames(o).then(
    () => {
      throw new Error('expected the run to fail');
    },
    (e) => e as PipelineError,
  );
const finalLatent = async (o: Record<string, unknown>) => {
  const fs = await frames(o);
  const err = fs.find((f) => f.type === 'error');
  if (err) throw new Error(JSON.stringify(err));
  return tensorFromWire((fs.filter((f) => f.type === 'latent').at(-1) as Extract<Frame, { type: 'latent' }>).tensor)
    .data as Float32Array;
};

describe('generating with textual-inversion embeddings on tiny', () => {
  test('a token holding the table row of a word generates exactly what the word does', async () => {
    put('cat.safetensors', '<tok>', [rowOf('cat')]);
    const learned = await finalLatent({ prompt: 'a photo of <tok>', embeddings: ['cat.safetensors'] });
    const word = await finalLatent({ prompt: 'a photo of cat' });
    expect(learned).toEqual(word);
    // Not trivially so: another word's row gives another image.
    put('dog.safetensors', '<tok>', [rowOf('dog')]);
    expect(await finalLatent({ prompt: 'a photo of <tok>', embeddings: ['dog.safetensors'] })).not.toEqual(word);
  });

  test('a 2-vector token expands in the prompt and generates what its two words do', async () => {
    // A kohya file: its token is the file name.
    put('red-star.safetensors', 'ignored', [rowOf('red'), rowOf('star')], 'kohya');
    const learned = await finalLatent({ prompt: 'a photo of red-star', embeddings: ['red-star.safetensors'] });
    expect(learned).toEqual(await finalLatent({ prompt: 'a photo of red star' }));
  });

  test('gives the tokens to a copy of the tokenizer, leaving the base model as it was', async () => {
    put('a.safetensors', '<a>', [rowOf('cat'), rowOf('dog')]);
    put('b.safetensors', '<b>', [rowOf('red')], 'a1111');
    const m = await deps.withEmbeddings(model, ['a.safetensors', 'b.safetensors']);
    // A1111 files carry their token in metadata; ids follow the table in load order.
    expect(m.tokenizer.tokenize('<a> <b>', { pad: false }).ids).toEqual([
      model.tokenizer.bosId,
      tableRows,
      tableRows + 1,
      tableRows + 2,
      model.tokenizer.eosId,
    ]);
    expect([model.tokenizer.idOf('<a>'), model.tokenizer.vocabSize]).toEqual([undefined, tableRows]);
    expect(await m.session('unet')).toBe(await model.session('unet'));
    expect((await m.session('text_encoder')).inputs.map((i) => i.name)).toEqual(['input_ids']);
    await m.release();
  });

  test('fails the run with bad_embedding for an embedding of another width and for a token clash', async () => {
    store.set(
      'wide.safetensors',
      writeEmbedding({ token: '<w>', vectors: new Float32Array(dim + 1), count: 1, dim: dim + 1 }),
    );
    const wide = await failure({ prompt: 'x', embeddings: ['wide.safetensors'] });
    expect([wide.code, wide.message]).toEqual([
      'bad_embedding',
      `embedding file wide.safetensors (token '<w>') has vectors of width ${dim + 1}, but this model's text encoder takes width ${dim} (an embedding trained for another model family?)`,
    ]);
    put('c1.safetensors', '<c>', [rowOf('cat')]);
    const clash = await failure({ prompt: 'x', embeddings: ['c1.safetensors', 'c1.safetensors'] });
    expect([clash.code, clash.message]).toEqual([
      'bad_embedding',
      `embedding file c1.safetensors (token '<c>'): token '<c>' already exists in the tokenizer (id ${tableRows}); load it under another token`,
    ]);
  });
});

describe('preparing the injected text encoder', () => {
  test('inlines external weights so the rewritten model opens from bytes', async () => {
    // The tiny text encoder with its token table moved to external data, served from memory.
    const raw = readTensorProto(teModel.graph.initializers.find((t) => t.name === tableName)!);
    const data = new Uint8Array((raw.data as Float32Array).buffer.slice(0));
    const external = decodeModel(encodeModel(teModel));
    external.graph.initializers = external.graph.initializers.map((t) =>
      t.name === tableName
        ? makeExternalTensorProto(t.name, 'float32', raw.dims, 'model.onnx_data', 0, data.byteLength)
        : t,
    );
    const bytes = new Map<string, Uint8Array>([
      ['text_encoder/model.onnx', encodeModel(external)],
      ['text_encoder/model.onnx_data', data],
    ]);
    const files: ModelFiles = {
      root: 'memory',
      path: (rel) => rel,
      exists: async (rel) => bytes.has(rel),
      readText: async () => undefined,
      readBytes: async (rel) => bytes.get(rel),
      readRange: (rel, offset, length) => bytes.get(rel)!.slice(offset, offset + length),
    };
    const encoder = await prepareTextEncoder({ ...model, files }, ortSessionFactory);
    const ids = model.tokenizer.tokenize('a photo of cat').ids;
    const row = tensorOf(rowOf('cat'));
    const [got] = await runTextEncoder(
      { ...encoder.session, run: (f, o) => encoder.session.run({ ...f, pseudoword_vectors: row }, o) },
      [ids],
    );
    const [want] = await runTextEncoder(await model.session('text_encoder'), [ids]);
    expect(got.data).toEqual(want.data);
    await encoder.session.release();
  });
});

const tensorOf = (v: Float32Array) => ({ dtype: 'float32' as const, dims: [1, v.length], data: v });
