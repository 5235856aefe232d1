import { describe, expect, test } from 'bun:test';
import { createClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import { expandPrompt, registerEmbedding, vectorTokens, type RegisteredEmbedding } from './expand-prompt.ts';
import { errorOf } from '../../test/support/error-of.ts';

// A character-level vocabulary (no merges): 26 letters, their word-final forms, the two specials → 54 ids.
const letters = [...'abcdefghijklmnopqrstuvwxyz'];
const vocab = Object.fromEntries(
  [...letters, ...letters.map((c) => `${c}</w>`), '<|startoftext|>', '<|endoftext|>'].map((t, i) => [t, i]),
);
const tokenizer = () => createClipTokenizer({ vocab, merges: [] });
const V = 54;
const encoder = { tableRows: V, dim: 3 };
const embedding = (token: string, count: number, dim = 3) => ({
  token,
  count,
  dim,
  vectors: new Float32Array(count * dim),
});

describe('registering embeddings in a tokenizer', () => {
  test('names the vectors of an n-vector token tok, tok_1, …, tok_{n-1}', () => {
    expect(vectorTokens('<cat-toy>', 3)).toEqual(['<cat-toy>', '<cat-toy>_1', '<cat-toy>_2']);
  });

  test('gives ids consecutive from the table rows in load order, and the vector rows they read', () => {
    const tok = tokenizer();
    const a = registerEmbedding(tok, embedding('<a>', 2), encoder);
    const b = registerEmbedding(tok, embedding('<b>', 1), encoder);
    expect(a).toEqual({ token: '<a>', tokens: ['<a>', '<a>_1'], ids: [54, 55], rows: [0, 1] });
    expect(b).toEqual({ token: '<b>', tokens: ['<b>'], ids: [56], rows: [2] });
    expect(tok.encode('x <b> <a>_1')).toEqual([vocab['x</w>'], 56, 55]);
  });

  test('refuses a token that already exists, naming the file and the token', () => {
    const tok = tokenizer();
    registerEmbedding(tok, embedding('<a>', 1), encoder);
    const e = errorOf(() => registerEmbedding(tok, { ...embedding('<a>', 1), fileName: 'again.safetensors' }, encoder));
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      "embedding file again.safetensors (token '<a>'): token '<a>' already exists in the tokenizer (id 54); load it under another token",
    ]);
    const vocabWord = errorOf(() => registerEmbedding(tok, embedding('x</w>', 1), encoder));
    expect(vocabWord.message).toBe(
      "embedding 'x</w>': token 'x</w>' already exists in the tokenizer (id 49); load it under another token",
    );
  });

  test('refuses an embedding whose extra vector tokens clash, adding none of its tokens', () => {
    const tok = tokenizer();
    registerEmbedding(tok, embedding('<a>_1', 1), encoder);
    const e = errorOf(() => registerEmbedding(tok, embedding('<a>', 2), encoder));
    expect(e.message).toBe(
      "embedding '<a>': token '<a>_1' already exists in the tokenizer (id 54); load it under another token",
    );
    expect(tok.idOf('<a>')).toBeUndefined();
  });

  test("refuses a width other than the text encoder's, naming both widths", () => {
    const e = errorOf(() =>
      registerEmbedding(
        tokenizer(),
        { ...embedding('<sd2>', 1, 1024), fileName: 'sd2.safetensors' },
        { tableRows: V, dim: 768 },
      ),
    );
    expect([e.code, e.message]).toEqual([
      'bad_embedding',
      "embedding file sd2.safetensors (token '<sd2>') has vectors of width 1024, but this model's text encoder takes width 768 (an embedding trained for another model family?)",
    ]);
  });

  test('refuses a tokenizer smaller than the table, whose new ids would read table rows', () => {
    const e = errorOf(() => registerEmbedding(tokenizer(), embedding('<a>', 1), { tableRows: 60, dim: 3 }));
    expect([e.code, e.message]).toEqual([
      'bad_model',
      "the tokenizer has 54 tokens but the text encoder's table has 60 rows; new tokens would read table rows",
    ]);
  });
});

describe('expanding prompts', () => {
  const reg = (token: string, count: number): RegisteredEmbedding => ({
    token,
    tokens: vectorTokens(token, count),
    ids: [],
    rows: [],
  });

  test('expands a multi-vector token into all its vector tokens, as maybe_convert_prompt does', () => {
    expect(expandPrompt('a photo of <cat-toy>, <cat-toy> again', [reg('<cat-toy>', 3)])).toBe(
      'a photo of <cat-toy> <cat-toy>_1 <cat-toy>_2, <cat-toy> <cat-toy>_1 <cat-toy>_2 again',
    );
  });

  test('leaves single-vector tokens and unrelated text alone', () => {
    expect(expandPrompt('a <one> and a <cat-toy>x', [reg('<one>', 1), reg('<cat-toy>', 2)])).toBe(
      'a <one> and a <cat-toy> <cat-toy>_1x',
    );
  });

  test('matches tokens as the tokenizer does: whole words, longest first', () => {
    // 'sks' inside 'tasks' is no match; 'sks_1' already written out is not expanded again.
    expect(expandPrompt('tasks of sks, sks_1 and sks2', [reg('sks', 2)])).toBe('tasks of sks sks_1, sks_1 and sks2');
  });

  test('lets the tokenizer give each vector its own position', () => {
    const tok = tokenizer();
    const r = registerEmbedding(tok, embedding('<a>', 3), encoder);
    expect(tok.encode(expandPrompt('x <a> y', [r]))).toEqual([vocab['x</w>'], 54, 55, 56, vocab['y</w>']]);
  });
});
