import { PipelineError } from '../../common/errors.ts';
import { type ClipTokenizer, type ClipTokenizerConfig, createClipTokenizer } from './clip-tokenizer.ts';

/** Reads one file of a tokenizer folder by name; `undefined` when the file is not there. */
export type ReadTokenizerFile = (file: string) => Promise<string | undefined>;

const FILES = [
  'vocab.json',
  'merges.txt',
  'tokenizer.json',
  'added_tokens.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;
type FileName = (typeof FILES)[number];

type Json = Record<string, unknown>;

const bad = (message: string) => new PipelineError('bad_model', message);

const parseJson = (file: string, text: string): Json => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(`tokenizer file ${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`tokenizer file ${file} is not a JSON object`);
  return value as Json;
};

const checkVocab = (file: string, value: unknown): Record<string, number> => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`${file}: the vocabulary is not an object of token → id`);
  for (const [token, id] of Object.entries(value)) {
    if (!Number.isInteger(id))
      throw bad(`${file}: vocabulary entry "${token}" has id ${JSON.stringify(id)}, not an integer`);
  }
  return value as Record<string, number>;
};

// tokenizer.json writes merges as "a b" (older) or ["a", "b"] (tokenizers ≥ 0.20); both become "a b".
const checkMerges = (file: string, value: unknown): string[] => {
  if (!Array.isArray(value)) throw bad(`${file}: model.merges is not a list`);
  return value.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string')) return `${m[0]} ${m[1]}`;
    throw bad(`${file}: merge ${i} is ${JSON.stringify(m)}, neither "a b" nor ["a", "b"]`);
  });
};

/** A special token in a config: a plain string or an AddedToken object `{ content, ... }`. */
const tokenText = (value: unknown): string | undefined =>
  typeof value === 'string'
    ? value
    : typeof value === 'object' && value !== null && typeof (value as Json).content === 'string'
      ? ((value as Json).content as string)
      : undefined;

const configOf = (tokenizerConfig: Json | undefined, specialMap: Json | undefined): ClipTokenizerConfig => {
  // special_tokens_map.json overrides tokenizer_config.json, as in transformers' from_pretrained.
  const pick = (key: string) => tokenText(specialMap?.[key]) ?? tokenText(tokenizerConfig?.[key]);
  const max = tokenizerConfig?.model_max_length;
  return {
    bosToken: pick('bos_token'),
    eosToken: pick('eos_token'),
    unkToken: pick('unk_token'),
    padToken: pick('pad_token'),
    // transformers writes 1e30 for "no limit"; such a value is not a prompt length, so keep CLIP's 77.
    modelMaxLength: typeof max === 'number' && Number.isInteger(max) && max >= 2 && max <= 1 << 20 ? max : undefined,
  };
};

/** Merges added tokens (tokenizer.json `added_tokens` or `added_tokens.json`) into the vocabulary. */
const mergeAdded = (
  file: string,
  vocab: Record<string, number>,
  entries: Array<[string, number]>,
  config: ClipTokenizerConfig,
) => {
  const specials = new Set([
    config.bosToken,
    config.eosToken,
    config.unkToken,
    config.padToken,
    '<|startoftext|>',
    '<|endoftext|>',
  ]);
  const added: string[] = [];
  const idsInUse = new Map(Object.entries(vocab).map(([t, id]) => [id, t]));
  for (const [content, id] of entries) {
    if (typeof content !== 'string' || !Number.isInteger(id))
      throw bad(`${file}: added token ${JSON.stringify(content)} has no integer id`);
    if (vocab[content] === id) {
      if (!specials.has(content)) added.push(content);
      continue;
    }
    if (content in vocab)
      throw bad(`${file}: added token "${content}" has id ${id} but the vocabulary gives it ${vocab[content]}`);
    const holder = idsInUse.get(id);
    if (holder !== undefined) throw bad(`${file}: added token "${content}" reuses id ${id} of "${holder}"`);
    vocab[content] = id;
    idsInUse.set(id, content);
    if (!specials.has(content)) added.push(content);
  }
  return added;
};

/**
 * Loads a Hugging Face tokenizer folder: `vocab.json` + `merges.txt` (slow format), or `tokenizer.json` alone
 * (fast format), plus `added_tokens.json`, `tokenizer_config.json` and `special_tokens_map.json` when present.
 * The caller reads the files, so this works on any runtime and from any storage.
 * @example
 * const tok = await loadTokenizer((f) => files.readText(`tokenizer/${f}`));
 */
export const loadTokenizer = async (read: ReadTokenizerFile): Promise<ClipTokenizer> => {
  const texts = await Promise.all(
    FILES.map(async (f) => {
      try {
        return await read(f);
      } catch (e) {
        throw new PipelineError(
          'io',
          `reading tokenizer file ${f} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }),
  );
  const text = Object.fromEntries(FILES.map((f, i) => [f, texts[i]])) as Record<FileName, string | undefined>;
  const json = (f: FileName) => (text[f] === undefined ? undefined : parseJson(f, text[f]));
  const config = configOf(json('tokenizer_config.json'), json('special_tokens_map.json'));

  let vocab: Record<string, number>;
  let merges: string[];
  let addedEntries: Array<[string, number]> = [];
  let addedFile = 'added_tokens.json';
  if (text['vocab.json'] !== undefined && text['merges.txt'] !== undefined) {
    vocab = { ...checkVocab('vocab.json', json('vocab.json')) };
    merges = text['merges.txt'].split(/\r?\n/); // the tokenizer skips the "#version" header and blank lines
    addedEntries = Object.entries(json('added_tokens.json') ?? {}) as Array<[string, number]>;
  } else if (text['tokenizer.json'] !== undefined) {
    const doc = json('tokenizer.json')!;
    const model = (doc.model ?? {}) as Json;
    if (model.type !== undefined && model.type !== 'BPE')
      throw bad(`tokenizer.json: model type ${String(model.type)} is not BPE`);
    if (model.end_of_word_suffix !== undefined && model.end_of_word_suffix !== '</w>') {
      throw bad(`tokenizer.json: end_of_word_suffix ${JSON.stringify(model.end_of_word_suffix)} is not CLIP's "</w>"`);
    }
    vocab = { ...checkVocab('tokenizer.json', model.vocab) };
    merges = checkMerges('tokenizer.json', model.merges);
    const list = Array.isArray(doc.added_tokens) ? (doc.added_tokens as Json[]) : [];
    addedEntries = list.map((t) => [t.content as string, t.id as number]);
    addedFile = 'tokenizer.json';
  } else {
    const missing =
      text['vocab.json'] !== undefined
        ? 'merges.txt'
        : text['merges.txt'] !== undefined
          ? 'vocab.json'
          : 'vocab.json and merges.txt';
    throw bad(`tokenizer folder has no ${missing} and no tokenizer.json`);
  }
  const addedTokens = mergeAdded(addedFile, vocab, addedEntries, config);
  return createClipTokenizer({ vocab, merges, config: { ...config, addedTokens } });
};
