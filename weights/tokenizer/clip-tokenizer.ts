import { PipelineError } from '../../common/errors.ts';
import { bpe, END_OF_WORD, pairKey } from './bpe.ts';
import { fromByteLevel, toByteLevel } from './bytes-to-unicode.ts';
import { preTokenize } from './pre-tokenize.ts';

/** Settings a tokenizer folder's `tokenizer_config.json` / `special_tokens_map.json` carry. */
export interface ClipTokenizerConfig {
  bosToken?: string; // default '<|startoftext|>'
  eosToken?: string; // default '<|endoftext|>'
  unkToken?: string; // default '<|endoftext|>'
  /** SD1 pads with '<|endoftext|>' (the default), SD2 with '!' */
  padToken?: string;
  /** default tokenize() length; 77 for every Stable Diffusion text encoder */
  modelMaxLength?: number;
  /** vocab entries matched whole in raw text before BPE (placeholders saved with an earlier addTokens) */
  addedTokens?: readonly string[];
}

/** What `createClipTokenizer` needs: the `vocab.json` map, the merge lines ("a b", rank = index), settings. */
export interface ClipTokenizerSource {
  vocab: Readonly<Record<string, number>>;
  merges: readonly string[];
  config?: ClipTokenizerConfig;
}

/** Options of `tokenize`. */
export interface TokenizeOptions {
  /** total length with BOS and EOS (default: modelMaxLength, 77) */
  length?: number;
  /** pad up to `length` with the pad token (default true) */
  pad?: boolean;
}

/** A tokenized prompt: ids with BOS/EOS (and padding), and 1 for real tokens, 0 for padding. */
export interface Tokenized {
  ids: number[];
  attentionMask: number[];
}

/** A CLIP BPE tokenizer, equal in its ids to Hugging Face's CLIPTokenizer / OpenAI's SimpleTokenizer. */
export interface ClipTokenizer {
  /** token ids of the text, no BOS/EOS, no truncation */
  encode(text: string): number[];
  /** the BPE pieces of the text as vocab strings (Hugging Face's `tokenize()`), e.g. ['fal', 's', 'Ã©</w>'] */
  pieces(text: string): string[];
  /** BOS + ids + EOS, truncated to `length` keeping EOS last, then padded */
  tokenize(text: string, options?: TokenizeOptions): Tokenized;
  /** ids → text; by default drops BOS and stops at the first EOS (what follows it is padding) */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** adds whole-word tokens (placeholders); returns their new ids; refuses one that already exists */
  addTokens(tokens: readonly string[]): number[];
  idOf(token: string): number | undefined;
  tokenOf(id: number): string | undefined;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly modelMaxLength: number;
  readonly padToken: string;
  /** a copy of the whole vocabulary, added tokens included (for saving) */
  readonly vocab: Record<string, number>;
  readonly merges: readonly string[];
  readonly addedTokens: readonly string[];
}

const CACHE_LIMIT = 50_000; // words; cleared when full so a long-running server cannot grow without bound

// Only syntax characters may be escaped in a `u` regex (`\-` is a SyntaxError there).
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const wordChar = /[\p{L}\p{N}]/u;

/**
 * Added tokens are matched in raw text, longest first, and only as whole words: a token that starts (ends) with
 * a letter or digit must not be preceded (followed) by one, so adding "sks" leaves "tasks" alone.
 */
const addedPattern = (tokens: readonly string[]): RegExp | undefined => {
  if (tokens.length === 0) return undefined;
  const alts = [...tokens]
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
    .map((t) => {
      const chars = Array.from(t);
      const before = wordChar.test(chars[0]) ? '(?<![\\p{L}\\p{N}])' : '';
      const after = wordChar.test(chars[chars.length - 1]) ? '(?![\\p{L}\\p{N}])' : '';
      return before + escapeRegExp(t) + after;
    });
  return new RegExp(alts.join('|'), 'gu');
};

const parseMerges = (merges: readonly string[]): { lines: string[]; ranks: Map<string, number> } => {
  const lines: string[] = [];
  const ranks = new Map<string, number>();
  merges.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#version')) return; // merges.txt header and trailing newline
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new PipelineError('bad_model', `merges line ${i + 1} ("${line}") is not two symbols`);
    const key = pairKey(parts[0], parts[1]);
    if (!ranks.has(key)) ranks.set(key, lines.length); // a repeated merge could never fire again: keep the first
    lines.push(key);
  });
  return { lines, ranks };
};

const checkVocab = (vocab: Readonly<Record<string, number>>) => {
  const tokenById = new Map<number, string>();
  const idByToken = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0)
      throw new PipelineError('bad_model', `vocab entry "${token}" has id ${id}, not a non-negative integer`);
    const other = tokenById.get(id);
    if (other !== undefined)
      throw new PipelineError('bad_model', `vocab entries "${other}" and "${token}" share id ${id}`);
    tokenById.set(id, token);
    idByToken.set(token, id);
  }
  return { tokenById, idByToken };
};

/**
 * Builds a CLIP tokenizer from a `vocab.json` map and the merge list.
 * @example
 * const tok = createClipTokenizer({ vocab, merges });
 * tok.tokenize('a photo of a cat', { pad: false }).ids // [49406, 320, 1125, 539, 320, 2368, 49407]
 */
export const createClipTokenizer = ({ vocab, merges, config = {} }: ClipTokenizerSource): ClipTokenizer => {
  const { tokenById, idByToken } = checkVocab(vocab);
  const { lines: mergeLines, ranks } = parseMerges(merges);
  const special = (name: string, token: string) => {
    const id = idByToken.get(token);
    if (id === undefined) throw new PipelineError('bad_model', `${name} token "${token}" is not in the vocabulary`);
    return id;
  };
  const bosToken = config.bosToken ?? '<|startoftext|>';
  const eosToken = config.eosToken ?? '<|endoftext|>';
  const unkToken = config.unkToken ?? '<|endoftext|>';
  const padToken = config.padToken ?? eosToken;
  const [bosId, eosId, unkId, padId] = [
    special('bos', bosToken),
    special('eos', eosToken),
    special('unk', unkToken),
    special('pad', padToken),
  ];
  const modelMaxLength = config.modelMaxLength ?? 77;
  let size = 0; // one past the largest id: ids may have holes, new ones go after all of them
  for (const id of tokenById.keys()) size = Math.max(size, id + 1);
  const vocabSize = () => size;
  const added: string[] = [];
  const addedIds = new Set<number>();
  for (const t of config.addedTokens ?? []) {
    added.push(t);
    addedIds.add(special('added', t));
  }
  let addedRe = addedPattern(added);

  // OpenAI seeds its cache with the two specials so that, met in text, each stays one token.
  const seeded: Array<[string, string[]]> = [
    ['<|startoftext|>', ['<|startoftext|>']],
    ['<|endoftext|>', ['<|endoftext|>']],
  ];
  const cache = new Map<string, string[]>();
  const bpeWord = (word: string): string[] => {
    const hit = cache.get(word);
    if (hit) return hit;
    const pre = seeded.find(([w]) => w === word && idByToken.has(w));
    const pieces = pre ? pre[1] : bpe(word, ranks);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(word, pieces);
    return pieces;
  };
  const piecesOfChunk = (text: string): string[] => preTokenize(text).flatMap((w) => bpeWord(toByteLevel(w)));

  // Splits raw text on added tokens first (they bypass cleanup and BPE, as Hugging Face's added tokens do).
  const segments = (text: string): Array<{ added: string } | { text: string }> => {
    if (!addedRe) return [{ text }];
    const out: Array<{ added: string } | { text: string }> = [];
    let at = 0;
    for (const m of text.matchAll(addedRe)) {
      out.push({ text: text.slice(at, m.index) }, { added: m[0] });
      at = m.index + m[0].length;
    }
    out.push({ text: text.slice(at) });
    return out;
  };

  const pieces = (text: string): string[] =>
    segments(text).flatMap((s) => ('added' in s ? [s.added] : piecesOfChunk(s.text)));
  const encode = (text: string): number[] => pieces(text).map((p) => idByToken.get(p) ?? unkId);

  const tokenize = (text: string, { length = modelMaxLength, pad = true }: TokenizeOptions = {}): Tokenized => {
    if (!Number.isInteger(length) || length < 2) {
      throw new PipelineError(
        'bad_request',
        `tokenize length must be an integer of at least 2 (BOS and EOS), got ${length}`,
      );
    }
    const ids = [bosId, ...encode(text).slice(0, length - 2), eosId];
    const attentionMask = ids.map(() => 1);
    while (pad && ids.length < length) ids.push(padId), attentionMask.push(0);
    return { ids, attentionMask };
  };

  const utf8 = new TextDecoder('utf-8'); // not fatal: broken byte runs become U+FFFD, like errors="replace"
  const decode = (ids: readonly number[], { skipSpecialTokens = true } = {}): string => {
    const texts: string[] = [];
    let run = '';
    const flush = () => {
      texts.push(utf8.decode(fromByteLevel(run)).replaceAll(END_OF_WORD, ' '));
      run = '';
    };
    for (const id of ids) {
      const token = tokenById.get(id);
      if (token === undefined)
        throw new PipelineError('bad_request', `token id ${id} is not in the vocabulary (size ${vocabSize()})`);
      const isSpecial = id === bosId || id === eosId;
      if (skipSpecialTokens && id === eosId) break;
      if (skipSpecialTokens && isSpecial) continue;
      if (isSpecial || addedIds.has(id)) flush(), texts.push(token);
      else run += token;
    }
    flush();
    // Hugging Face joins added/special tokens and the text between them with single spaces.
    return texts
      .map((t) => t.trim())
      .filter((t) => t !== '')
      .join(' ');
  };

  const addTokens = (tokens: readonly string[]): number[] => {
    const fresh = new Set<string>();
    for (const t of tokens) {
      if (typeof t !== 'string' || t.trim() === '')
        throw new PipelineError('bad_embedding', `cannot add the empty token "${t}"`);
      // As Hugging Face's add_tokens: a clash is the exact string being a vocab key. "sks" is not one ("sks</w>"
      // is), so it can be added and then takes over that word, which is what a placeholder is for.
      const existing = idByToken.get(t);
      if (existing !== undefined || fresh.has(t)) {
        throw new PipelineError(
          'bad_embedding',
          `token "${t}" already exists in the tokenizer${existing !== undefined ? ` (id ${existing})` : ''}`,
        );
      }
      fresh.add(t);
    }
    const ids = tokens.map((t) => {
      const id = size++;
      tokenById.set(id, t);
      idByToken.set(t, id);
      addedIds.add(id);
      added.push(t);
      return id;
    });
    addedRe = addedPattern(added);
    return ids;
  };

  return {
    encode,
    pieces,
    tokenize,
    decode,
    addTokens,
    idOf: (token) => idByToken.get(token),
    tokenOf: (id) => tokenById.get(id),
    get vocabSize() {
      return vocabSize();
    },
    bosId,
    eosId,
    padId,
    unkId,
    modelMaxLength,
    padToken,
    get vocab() {
      return Object.fromEntries([...tokenById].sort((a, b) => a[0] - b[0]).map(([id, t]) => [t, id]));
    },
    merges: mergeLines,
    get addedTokens() {
      return [...added];
    },
  };
};
