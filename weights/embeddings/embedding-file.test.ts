import { describe, expect, test } from 'bun:test';
import { readEmbedding, tokenFromFileName, writeEmbedding } from './embedding-file.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { errorOf } from '../../test/support/error-of.ts';
import { limits } from '../../common/limits.ts';

const vectors = Float32Array.from({ length: 2 * 4 }, (_, i) => (i - 3) / 8);
const embedding = { token: '<cat-toy>', vectors, count: 2, dim: 4 };
/** The header JSON of a written file, padding stripped. */
const headerOf = (bytes: Uint8Array) =>
  new TextDecoder().decode(bytes.subarray(8, 8 + bytes[0] + 256 * bytes[1])).trimEnd();

describe('writing embedding files', () => {
  test('writes the diffusers layout: one tensor named by the token, metadata format pt', () => {
    const bytes = writeEmbedding(embedding);
    expect(headerOf(bytes)).toBe(
      '{"__metadata__":{"format":"pt"},"<cat-toy>":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}',
    );
    const back = readEmbedding(bytes, { fileName: 'learned_embeds.safetensors' });
    expect(back).toEqual({ ...embedding, layout: 'diffusers' });
  });

  test('writes the kohya layout: emb_params alone, the token taken from the file name on reading', () => {
    const bytes = writeEmbedding(embedding, 'kohya');
    expect(headerOf(bytes)).toBe('{"emb_params":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}');
    expect(readEmbedding(bytes, { fileName: 'models/embeddings/cat-toy.safetensors' })).toEqual({
      ...embedding,
      token: 'cat-toy',
      layout: 'kohya',
    });
    expect(readEmbedding(bytes, { fileName: 'x.safetensors', token: '<ct>' }).token).toBe('<ct>');
  });

  test('writes the A1111 layout: string_to_param.* with name and step as metadata', () => {
    const bytes = writeEmbedding({ ...embedding, token: 'cat-toy', step: 3000 }, 'a1111');
    expect(headerOf(bytes)).toBe(
      '{"__metadata__":{"name":"cat-toy","step":"3000"},"string_to_param.*":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}',
    );
    expect(readEmbedding(bytes, { fileName: 'other-name.safetensors' })).toEqual({
      ...embedding,
      token: 'cat-toy',
      step: 3000,
      layout: 'a1111',
    });
  });

  test('the files it writes are read back by the generic reader with the same values', () => {
    const f = readSafetensors(writeEmbedding(embedding, 'a1111'));
    expect(f.float32('string_to_param.*')).toEqual(vectors);
  });

  test('refuses vectors that do not fill count × dim', () => {
    const e = errorOf(() => writeEmbedding({ ...embedding, count: 3 }));
    expect([e.code, e.message]).toEqual(['bad_embedding', "embedding '<cat-toy>' has 8 values, not 3 × 4"]);
  });
});

describe('reading embedding files written by other tools', () => {
  test('reads a flattened A1111 dict, ignoring its string_to_token id, with the token from the file name', () => {
    // What a .pt → safetensors conversion of {string_to_token: {"*": 265}, string_to_param: {"*": …}} holds.
    const header =
      '{"string_to_param.*":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"string_to_token.*":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}';
    const json = new TextEncoder().encode(header.padEnd(Math.ceil(header.length / 8) * 8, ' '));
    const bytes = new Uint8Array(8 + json.length + 12);
    bytes[0] = json.length;
    bytes.set(json, 8);
    bytes.set([0x00, 0x3c, 0x00, 0xc0, 9, 1, 0, 0, 0, 0, 0, 0], 8 + json.length); // halves 1, −2; then 265
    const e = readEmbedding(bytes, { fileName: 'style.safetensors' });
    expect([e.token, e.count, e.dim, Array.from(e.vectors), e.layout]).toEqual(['style', 1, 2, [1, -2], 'a1111']);
  });

  test('reads a bare [dim] tensor as one vector', () => {
    const bytes = writeSafetensors({ '<v>': { shape: [3], data: Float32Array.of(1, 2, 3) } });
    expect(readEmbedding(bytes, { fileName: 'v.safetensors' })).toEqual({
      token: '<v>',
      vectors: Float32Array.of(1, 2, 3),
      count: 1,
      dim: 3,
      layout: 'diffusers',
    });
  });

  test('reads a file whose header length starts with 0x80, the byte a pickle starts with', () => {
    const header = '{"<v>":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'.padEnd(0x80, ' ');
    const bytes = new Uint8Array(8 + 0x80 + 4);
    bytes[0] = 0x80;
    bytes.set(new TextEncoder().encode(header), 8);
    bytes.set([0, 0, 0x80, 0x3f], 8 + 0x80); // 1.0f
    expect(readEmbedding(bytes, { fileName: 'v.safetensors' }).vectors).toEqual(Float32Array.of(1));
  });

  test('takes the file name without folders or extension as a token', () => {
    expect(['a/b/c.d.safetensors', 'C:\\emb\\x.pt', 'plain'].map(tokenFromFileName)).toEqual(['c.d', 'x', 'plain']);
  });
});

describe('SDXL embedding files', () => {
  test('reads the {clip_l, clip_g} pair A1111 and ComfyUI load as one token named by the file, both widths kept', () => {
    const l = Float32Array.from({ length: 2 * 3 }, (_, i) => i / 4);
    const g = Float32Array.from({ length: 2 * 5 }, (_, i) => -i / 8);
    const bytes = writeSafetensors({ clip_l: { shape: [2, 3], data: l }, clip_g: { shape: [2, 5], data: g } });
    const e = readEmbedding(bytes, { fileName: 'embeddings/cat-toy.safetensors' });
    expect([e.token, e.count, e.dim, e.clipG?.dim, e.layout]).toEqual(['cat-toy', 2, 3, 5, 'sdxl']);
    expect([Array.from(e.vectors), Array.from(e.clipG!.vectors)]).toEqual([Array.from(l), Array.from(g)]);
  });

  test('writes an embedding with clip_g vectors as that pair, its token in the metadata, and reads it back', () => {
    const l = Float32Array.of(1, 2, 3);
    const g = Float32Array.of(4, 5, 6, 7);
    const bytes = writeEmbedding({ token: '<disc>', vectors: l, count: 1, dim: 3, clipG: { vectors: g, dim: 4 } });
    expect(headerOf(bytes)).toBe(
      '{"__metadata__":{"pseudoword.token":"<disc>"},"clip_g":{"dtype":"F32","shape":[1,4],"data_offsets":[0,16]},"clip_l":{"dtype":"F32","shape":[1,3],"data_offsets":[16,28]}}',
    );
    // The token is the one trained, not the file name (which is what A1111 and ComfyUI, reading only the
    // tensors, call it).
    expect(readEmbedding(bytes, { fileName: 'out/learned_embeds.safetensors' })).toEqual({
      token: '<disc>',
      vectors: l,
      count: 1,
      dim: 3,
      clipG: { vectors: g, dim: 4 },
      layout: 'sdxl',
    });
    const stepped = writeEmbedding({
      token: '<disc>',
      vectors: l,
      count: 1,
      dim: 3,
      clipG: { vectors: g, dim: 4 },
      step: 7,
    });
    expect(readSafetensors(stepped).metadata).toEqual({ 'pseudoword.token': '<disc>', step: '7' });
    expect(readEmbedding(stepped, { fileName: 'learned_embeds-steps-7.safetensors' })).toMatchObject({
      token: '<disc>',
      step: 7,
    });
  });

  test("a token passed by the caller wins over the metadata's", () => {
    const bytes = writeEmbedding({
      token: '<disc>',
      vectors: Float32Array.of(1),
      count: 1,
      dim: 1,
      clipG: { vectors: Float32Array.of(2), dim: 1 },
    });
    expect(readEmbedding(bytes, { fileName: 'learned_embeds.safetensors', token: '<other>' }).token).toBe('<other>');
  });

  const pairWith = (metadata: Record<string, string>) =>
    writeSafetensors(
      {
        clip_l: { shape: [1, 2], data: Float32Array.of(1, 2) },
        clip_g: { shape: [1, 3], data: Float32Array.of(3, 4, 5) },
      },
      metadata,
    );
  test('a token of the most characters the limit allows is read from the metadata', () => {
    const long = `<${'x'.repeat(limits.embeddingTokenChars - 2)}>`;
    expect(readEmbedding(pairWith({ 'pseudoword.token': long }), { fileName: 'a.safetensors' }).token).toBe(long);
  });
  for (const [what, metadata] of [
    ['no metadata token', {}],
    ["another tool's name metadata", { name: 'something else', ss_output_name: 'other' }],
    ['an empty token', { 'pseudoword.token': '' }],
    ['a token with a space', { 'pseudoword.token': 'a photo' }],
    ['a token with a newline', { 'pseudoword.token': '<a>\n<b>' }],
    ['a token with a control character', { 'pseudoword.token': '<a\u0000>' }],
    ['a token with a lone surrogate', { 'pseudoword.token': '<\ud800>' }],
    ['a token past the limit', { 'pseudoword.token': 'x'.repeat(limits.embeddingTokenChars + 1) }],
  ] as [string, Record<string, string>][])
    test(`a pair with ${what} is named after its file`, () => {
      expect(readEmbedding(pairWith(metadata), { fileName: 'embeddings/other-tool.safetensors' }).token).toBe(
        'other-tool',
      );
    });
});

describe('refusing embedding files it cannot use', () => {
  const two = { shape: [1, 2], data: Float32Array.of(1, 2) };
  const cases: Array<[string, Uint8Array, string]> = [
    ['half an SDXL pair', writeSafetensors({ clip_g: two }), 'emb.safetensors holds clip_g but no clip_l'],
    [
      'an SDXL pair of different counts',
      writeSafetensors({ clip_l: two, clip_g: { shape: [2, 1], data: Float32Array.of(1, 2) } }),
      'emb.safetensors: clip_l holds 1 vectors but clip_g 2',
    ],
    [
      'several unrelated tensors',
      writeSafetensors({ a: two, b: two }),
      "emb.safetensors holds 2 tensors (a, b); an embedding file holds one (diffusers '<token>', kohya 'emb_params' or A1111 'string_to_param.*')",
    ],
    [
      'a zip that is cut short',
      Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0),
      'emb.safetensors: truncated or corrupt zip archive (no end-of-central-directory record)',
    ],
    [
      'a PNG embedding',
      Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0),
      'emb.safetensors is an image (an A1111 PNG/WebP embedding?), which pseudoword cannot read: convert it to safetensors',
    ],
    [
      'a three-dimensional tensor',
      writeSafetensors({ t: { shape: [1, 1, 2], data: Float32Array.of(1, 2) } }),
      "emb.safetensors: tensor 't' has shape [1, 1, 2]; an embedding is [vectors, width] or [width]",
    ],
    [
      'a NaN in a vector',
      writeSafetensors({ t: { shape: [2, 2], data: Float32Array.of(1, 2, 3, NaN) } }),
      "emb.safetensors: vector 1 of 't' holds NaN at index 1",
    ],
  ];
  for (const [what, bytes, message] of cases)
    test(`refuses ${what} with a message saying why`, () => {
      const e = errorOf(() => readEmbedding(bytes, { fileName: 'emb.safetensors' }));
      expect(e.code).toBe('bad_embedding');
      expect(e.message.startsWith(message)).toBe(true);
    });
});
