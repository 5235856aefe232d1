/** What `writeTokenizerFiles` saves: a learned BPE, or a `ClipTokenizer` (which has all of these fields). */
export interface TokenizerData {
  vocab: Readonly<Record<string, number>>;
  merges: readonly string[];
  /** tokens added after training (placeholders); written to added_tokens.json, not vocab.json */
  addedTokens?: readonly string[];
  padToken?: string;
  modelMaxLength?: number;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

// Written by hand because a JS object puts integer-like keys ("0"…"9", which are tokens here) first.
const jsonInOrder = (entries: Array<[string, number]>) =>
  `{${entries.map(([t, id]) => `${JSON.stringify(t)}: ${id}`).join(', ')}}\n`;

/**
 * The text of a Hugging Face CLIP tokenizer folder (`vocab.json`, `merges.txt` with its `#version: 0.2` header,
 * `tokenizer_config.json`, `special_tokens_map.json`, and `added_tokens.json` when tokens were added), keyed by
 * file name; the caller writes them. `loadTokenizer` and transformers' CLIPTokenizer both read it back.
 * @example
 * const files = writeTokenizerFiles(trainBpe(words, { merges: 500 }));
 * for (const [name, text] of Object.entries(files)) await write(`tokenizer/${name}`, text);
 */
export const writeTokenizerFiles = (tok: TokenizerData): Record<string, string> => {
  const added = new Set(tok.addedTokens ?? []);
  const entries = Object.entries(tok.vocab).sort((a, b) => a[1] - b[1]); // id order, as Hugging Face writes it
  const special = {
    bos_token: '<|startoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    pad_token: tok.padToken ?? '<|endoftext|>',
  };
  const files: Record<string, string> = {
    'vocab.json': jsonInOrder(entries.filter(([t]) => !added.has(t))),
    'merges.txt': `${['#version: 0.2', ...tok.merges].join('\n')}\n`,
    'tokenizer_config.json': json({
      tokenizer_class: 'CLIPTokenizer',
      model_max_length: tok.modelMaxLength ?? 77,
      do_lower_case: true,
      errors: 'replace',
      ...special,
    }),
    'special_tokens_map.json': json(special),
  };
  if (added.size > 0) files['added_tokens.json'] = jsonInOrder(entries.filter(([t]) => added.has(t)));
  return files;
};
