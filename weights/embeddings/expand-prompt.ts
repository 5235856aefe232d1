/**
 * Multi-vector tokens, as diffusers' `load_textual_inversion` and `maybe_convert_prompt` do them: a token with n
 * vectors becomes the tokens `tok, tok_1, …, tok_{n-1}` in the tokenizer, and a prompt's `tok` is expanded to
 * `tok tok_1 … tok_{n-1}` before tokenisation, so each vector gets its own position.
 */
import { PipelineError } from '../../common/errors.ts';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.ts';
import type { Embedding } from './embedding-file.ts';

/** A token loaded into a tokenizer: its vector tokens, their ids, and the rows of `pseudoword_vectors` they read. */
export interface RegisteredEmbedding {
  token: string;
  /** `tok, tok_1, …` — one per vector */
  tokens: string[];
  ids: number[];
  /** row of the injected text encoder's `pseudoword_vectors` each id reads (id − table rows) */
  rows: number[];
}

/** The text encoder a token is loaded for: its frozen table's rows and its token width. */
export interface TextEncoderShape {
  tableRows: number;
  dim: number;
}

/** The tokens of an n-vector embedding: `tok, tok_1, …, tok_{n-1}`. */
export const vectorTokens = (token: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => (i === 0 ? token : `${token}_${i}`));

/**
 * Adds an embedding's tokens to a tokenizer. The new ids must follow the text encoder's table (the injected
 * encoder reads id − tableRows from its vectors input), so a tokenizer whose size differs from the table is
 * refused, as are an existing token and a width other than the encoder's.
 * @example
 * registerEmbedding(tokenizer, { token: '<cat-toy>', vectors, count: 2, dim: 768 }, { tableRows: 49408, dim: 768 })
 * // { token: '<cat-toy>', tokens: ['<cat-toy>', '<cat-toy>_1'], ids: [49408, 49409], rows: [0, 1] }
 */
export const registerEmbedding = (
  tokenizer: ClipTokenizer,
  embedding: Embedding & { fileName?: string },
  encoder: TextEncoderShape,
): RegisteredEmbedding => {
  const { token, count, dim, fileName } = embedding;
  const from = fileName ? `embedding file ${fileName} (token '${token}')` : `embedding '${token}'`;
  if (dim !== encoder.dim)
    throw new PipelineError(
      'bad_embedding',
      `${from} has vectors of width ${dim}, but this model's text encoder takes width ${encoder.dim} (an embedding trained for another model family?)`,
      { token, dim, modelDim: encoder.dim },
    );
  if (embedding.vectors.length !== count * dim)
    throw new PipelineError('bad_embedding', `${from} has ${embedding.vectors.length} values, not ${count} × ${dim}`);
  const tokens = vectorTokens(token, count);
  for (const t of tokens) {
    const id = tokenizer.idOf(t);
    if (id !== undefined)
      throw new PipelineError(
        'bad_embedding',
        `${from}: token '${t}' already exists in the tokenizer (id ${id}); load it under another token`,
        { token: t },
      );
  }
  if (tokenizer.vocabSize < encoder.tableRows)
    throw new PipelineError(
      'bad_model',
      `the tokenizer has ${tokenizer.vocabSize} tokens but the text encoder's table has ${encoder.tableRows} rows; new tokens would read table rows`,
    );
  const ids = tokenizer.addTokens(tokens);
  return { token, tokens, ids, rows: ids.map((id) => id - encoder.tableRows) };
};

// Only syntax characters may be escaped in a `u` regex.
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Expands each multi-vector token of a prompt into all its vector tokens. Tokens are matched as the tokenizer
 * matches added tokens — longest first, whole words only — so `tok_1` already in a prompt is left alone and
 * `tok` inside a longer word is not a match.
 * @example
 * expandPrompt('a photo of <cat-toy>', [registered]) // 'a photo of <cat-toy> <cat-toy>_1'
 */
export const expandPrompt = (text: string, registered: readonly RegisteredEmbedding[]): string => {
  const expansions = new Map(registered.filter((r) => r.tokens.length > 1).map((r) => [r.token, r.tokens.join(' ')]));
  if (expansions.size === 0) return text;
  const all = registered.flatMap((r) => r.tokens).sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  const pattern = all.map((t) => {
    const chars = Array.from(t);
    const before = /[\p{L}\p{N}]/u.test(chars[0]) ? '(?<![\\p{L}\\p{N}])' : '';
    const after = /[\p{L}\p{N}]/u.test(chars[chars.length - 1]) ? '(?![\\p{L}\\p{N}])' : '';
    return before + escapeRegExp(t) + after;
  });
  return text.replace(new RegExp(pattern.join('|'), 'gu'), (m) => expansions.get(m) ?? m);
};
