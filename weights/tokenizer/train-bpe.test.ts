import { describe, expect, test } from 'bun:test';
import { PipelineError } from '../../common/errors.ts';
import { createClipTokenizer } from './clip-tokenizer.ts';
import { preTokenize } from './pre-tokenize.ts';
import { trainBpe, writeTokenizerFiles } from './train-bpe.ts';

const corpus = [
  'a photo of a cat',
  'a photo of a dog',
  'a painting of a toy',
  'a rendering of a sculpture',
  'a close-up photo of the toy',
  'a bright photo of a small cat',
  "the cat's toy",
  'an illustration of a teapot',
];
const words = [...new Set(corpus.flatMap(preTokenize))]; // as the tokenizer cuts them: "cat", "'s", "-"…

describe('trainBpe', () => {
  const learned = trainBpe(corpus, { merges: 400 });
  const tok = createClipTokenizer(learned);
  const entries = Object.entries(learned.vocab).sort((a, b) => a[1] - b[1]);

  test('lays the vocabulary out as CLIP does', () => {
    expect(entries.map(([, id]) => id)).toEqual([...entries.keys()]); // ids 0..n-1, no holes
    expect(entries.length).toBe(512 + learned.merges.length + 2);
    // Known CLIP/GPT-2 ids of byte symbols: '!' 0 and '!</w>' 256; '@' 31 and '%</w>' 260 ("!@#$%" →
    // [0, 31, 2, 3, 260] in transformers.js fixtures); 'a</w>' 320 ("a photo of a cat"); GPT-2's 'Ā' 188, 'Ġ' 220.
    const ids = (ts: string[]) => ts.map((t) => learned.vocab[t]);
    expect(ids(['!', '@', '!</w>', '%</w>', 'a</w>', 'Ā', 'Ġ', 'Ġ</w>'])).toEqual([
      0, 31, 256, 260, 320, 188, 220, 476,
    ]);
    expect(entries.at(-2)).toEqual(['<|startoftext|>', entries.length - 2]);
    expect(entries.at(-1)).toEqual(['<|endoftext|>', entries.length - 1]);
  });

  test('adds one entry per merge, the concatenation of two earlier entries', () => {
    learned.merges.forEach((m, rank) => {
      const [a, b] = m.split(' ');
      expect(learned.vocab[a + b]).toBe(512 + rank);
      expect(learned.vocab[a]).toBeLessThan(512 + rank);
      expect(learned.vocab[b]).toBeLessThan(512 + rank);
    });
  });

  test('reaches every vocab entry: each merge result is a whole word or a part of a later merge', () => {
    const parts = new Set(learned.merges.flatMap((m) => m.split(' ')));
    const wholeWords = new Set(
      words
        .map((w) => tok.pieces(w))
        .filter((p) => p.length === 1)
        .map((p) => p[0]),
    );
    const dead = learned.merges.map((m) => m.replace(' ', '')).filter((t) => !parts.has(t) && !wholeWords.has(t));
    expect(dead).toEqual([]);
  });

  test('encodes every training word as one id once the budget suffices', () => {
    expect(learned.merges.length).toBeLessThan(400); // it ran out of pairs, not budget
    for (const w of words) expect(tok.encode(w)).toHaveLength(1);
  });

  test('round-trips text through encode and decode, unseen words and non-Latin text included', () => {
    for (const text of ['a photo of a cat', 'a painting of a toy', 'zebra quartz jukebox', 'café naïve 北京 🐱']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    // CLIP's decoding puts a space after every word, punctuation runs included: it cannot know there was none.
    expect(tok.decode(tok.encode("a close-up of the cat's toy"))).toBe("a close - up of the cat 's toy");
    expect(tok.decode(tok.tokenize('A Photo of a Cat').ids)).toBe('a photo of a cat');
  });

  test('is deterministic and ignores corpus order', () => {
    expect(trainBpe(corpus, { merges: 400 })).toEqual(learned);
    expect(trainBpe([...corpus].reverse(), { merges: 400 })).toEqual(learned);
    expect(trainBpe(corpus.join('\n'), { merges: 400 })).toEqual(learned);
  });

  test('stops at the merge budget and at the minimum frequency', () => {
    expect(trainBpe(corpus, { merges: 0 }).merges).toEqual([]);
    expect(Object.keys(trainBpe(corpus, { merges: 0 }).vocab)).toHaveLength(514);
    expect(trainBpe(corpus, { merges: 7 }).merges).toHaveLength(7);
    const frequent = trainBpe(corpus, { merges: 400, minFrequency: 3 });
    expect(frequent.merges.length).toBeGreaterThan(0);
    expect(frequent.merges.length).toBeLessThan(learned.merges.length);
  });

  test('learns the most frequent pair first', () => {
    // "aaab aab ab" → pair counts: a a ×3, a b</w> ×3 (tie, "a a" sorts first), then the rest.
    expect(trainBpe('aaab aab ab', { merges: 1 }).merges).toEqual(['a a']);
    expect(trainBpe('xy xy xy zw', { merges: 1 }).merges).toEqual(['x y</w>']);
  });

  test('refuses a negative or fractional budget', () => {
    expect(() => trainBpe(corpus, { merges: -1 })).toThrow(PipelineError);
    expect(() => trainBpe(corpus, { merges: 1.5 })).toThrow(PipelineError);
  });
});

describe('writeTokenizerFiles', () => {
  const learned = trainBpe(corpus, { merges: 50 });

  test('writes the four Hugging Face files with a #version header and ids in order', () => {
    const files = writeTokenizerFiles(learned);
    expect(Object.keys(files).sort()).toEqual([
      'merges.txt',
      'special_tokens_map.json',
      'tokenizer_config.json',
      'vocab.json',
    ]);
    const lines = files['merges.txt'].split('\n');
    expect(lines[0]).toBe('#version: 0.2');
    expect(lines.slice(1, -1)).toEqual(learned.merges);
    // In id order in the text itself (byte-level tokens hold no spaces, so ": " only separates key and id).
    const idsInText = [...files['vocab.json'].matchAll(/": (\d+)/g)].map((m) => Number(m[1]));
    expect(idsInText).toEqual([...Array(learned.merges.length + 514).keys()]);
    expect(JSON.parse(files['vocab.json'])).toEqual(learned.vocab);
    expect(JSON.parse(files['tokenizer_config.json'])).toMatchObject({
      model_max_length: 77,
      pad_token: '<|endoftext|>',
      tokenizer_class: 'CLIPTokenizer',
    });
    expect(JSON.parse(files['special_tokens_map.json'])).toEqual({
      bos_token: '<|startoftext|>',
      eos_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
    });
  });

  test('puts added tokens in added_tokens.json and the pad token in both configs', () => {
    const tok = createClipTokenizer({ ...learned, config: { padToken: '!' } });
    tok.addTokens(['<cat-toy>']);
    const files = writeTokenizerFiles(tok);
    expect(JSON.parse(files['added_tokens.json'])).toEqual({ '<cat-toy>': learned.merges.length + 514 });
    expect(JSON.parse(files['vocab.json'])['<cat-toy>']).toBeUndefined();
    expect(JSON.parse(files['special_tokens_map.json']).pad_token).toBe('!');
    expect(JSON.parse(files['tokenizer_config.json']).pad_token).toBe('!');
  });
});
