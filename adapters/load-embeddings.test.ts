import { afterAll, describe, expect, test } from 'bun:test';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskModelFiles } from './fs.ts';
import { loadEmbeddingsInto } from './load-embeddings.ts';
import { modelPath, openModel } from './open-model.ts';
import { ortSessionFactory } from './ort-session.ts';
import { writeEmbedding } from '../weights/embeddings/embedding-file.ts';
import { injectVectors } from '../weights/embeddings/inject-vectors.ts';
import { injectedTextEncoderFile } from '../weights/embeddings/with-embeddings.ts';
import { openModelFolder } from '../weights/model-folder.ts';
import { decodeModel, encodeModel } from '../weights/onnx/proto.ts';
import { makeExternalTensorProto, readTensorProto } from '../weights/onnx/tensor-proto.ts';
import { runTextEncoder } from '../weights/text-encoder-io.ts';

const dir = mkdtempSync(join(tmpdir(), 'pseudoword-embeddings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = await openModel('tiny');
const te = decodeModel((await model.files.readBytes('text_encoder/model.onnx'))!);
const { table, dim } = injectVectors(te);
const tableData = readTensorProto(te.graph.initializers.find((t) => t.name === table)!);
const catId = model.tokenizer.encode('cat')[0];
const catRow = (tableData.data as Float32Array).slice(catId * dim, (catId + 1) * dim);
const catFile = join(dir, 'cat.safetensors');
writeFileSync(catFile, writeEmbedding({ token: '<tok>', vectors: catRow, count: 1, dim }));

/** The text encoder's hidden states of a prompt. */
const encode = async (m: typeof model, prompt: string) =>
  (await runTextEncoder(await m.session('text_encoder'), [m.tokenizer.tokenize(prompt).ids]))[0].data;

describe('loading embedding files from disk', () => {
  test('reads the files and encodes the token as the word whose row it holds', async () => {
    const m = await loadEmbeddingsInto(model, [catFile]);
    expect(await encode(m, 'a photo of <tok>')).toEqual(await encode(model, 'a photo of cat'));
    // A second request reuses the prepared encoder and gets a fresh tokenizer again.
    const again = await loadEmbeddingsInto(model, [catFile]);
    expect(again.tokenizer.idOf('<tok>')).toBe(m.tokenizer.idOf('<tok>'));
  });

  test('names a missing file in a not_found error', async () => {
    const missing = join(dir, 'nope.safetensors');
    await expect(loadEmbeddingsInto(model, [missing])).rejects.toMatchObject({
      code: 'not_found',
      message: `embeddings[0]: '${missing}' does not exist`,
    });
  });

  test('writes a text encoder with external data beside the original, so its weights resolve', async () => {
    const folder = join(dir, 'external');
    cpSync(await modelPath('tiny'), folder, { recursive: true });
    const bytes = new Uint8Array((tableData.data as Float32Array).buffer.slice(0));
    writeFileSync(join(folder, 'text_encoder/model.onnx_data'), bytes);
    const external = decodeModel(encodeModel(te));
    external.graph.initializers = external.graph.initializers.map((t) =>
      t.name === table
        ? makeExternalTensorProto(t.name, 'float32', tableData.dims, 'model.onnx_data', 0, bytes.byteLength)
        : t,
    );
    writeFileSync(join(folder, 'text_encoder/model.onnx'), encodeModel(external));
    const base = await openModelFolder(diskModelFiles(folder), ortSessionFactory);
    const m = await loadEmbeddingsInto(base, [catFile]);
    expect(existsSync(join(folder, injectedTextEncoderFile))).toBe(true);
    expect(await encode(m, 'a photo of <tok>')).toEqual(await encode(model, 'a photo of cat'));
    await base.release();
  });
});
