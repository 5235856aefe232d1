import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { PipelineError } from '../../common/errors.ts';
import { createClipTokenizer } from './clip-tokenizer.ts';
import { loadTokenizer } from './load-tokenizer.ts';
import { readOpenaiBpe } from './read-openai-bpe.ts';
import { trainBpe, writeTokenizerFiles } from './train-bpe.ts';

const CLIP_GZ = new URL('../../../shared/data/clip-bpe/bpe_simple_vocab_16e6.txt.gz', import.meta.url);
const haveClip = existsSync(CLIP_GZ);
if (!haveClip)
  console.warn('CLIP loader tests skipped: ../shared/data/clip-bpe/bpe_simple_vocab_16e6.txt.gz not found');

/** A tokenizer folder in memory. */
const folder = (files: Record<string, string>) => async (f: string) => files[f];

const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e instanceof PipelineError
      ? { code: e.code, message: e.message }
      : { code: 'not a PipelineError', message: String(e) };
  }
  return { code: 'no error', message: '' };
};

// transformers' tiny CLIP test vocabulary (tests/models/clip/test_tokenization_clip.py): "lower newer" →
// [10, 2, 16, 9, 3, 2, 16] with merges "l o", "lo w</w>", "e r</w>".
const tinyTokens = [
  'l',
  'o',
  'w',
  'e',
  'r',
  's',
  't',
  'i',
  'd',
  'n',
  'lo',
  'l</w>',
  'w</w>',
  'r</w>',
  't</w>',
  'low</w>',
  'er</w>',
  'lowest</w>',
  'newer</w>',
  'wider',
  '<unk>',
  '<|startoftext|>',
  '<|endoftext|>',
];
const tinyVocab = Object.fromEntries(tinyTokens.map((t, i) => [t, i]));
const tinyMerges = ['l o', 'lo w</w>', 'e r</w>'];
const LOWER_NEWER = [10, 2, 16, 9, 3, 2, 16];

describe('loadTokenizer', () => {
  test('reads vocab.json and merges.txt, skipping the #version header', async () => {
    const tok = await loadTokenizer(
      folder({
        'vocab.json': JSON.stringify(tinyVocab),
        'merges.txt': `${['#version: 0.2', ...tinyMerges].join('\n')}\n`,
        'special_tokens_map.json': JSON.stringify({ unk_token: '<unk>' }),
      }),
    );
    expect(tok.encode('lower newer')).toEqual(LOWER_NEWER);
    expect(tok.encode('x')).toEqual([20]); // unk from special_tokens_map.json
  });

  test('reads tokenizer.json alone, with merges written as strings or as pairs', async () => {
    for (const merges of [tinyMerges, tinyMerges.map((m) => m.split(' '))]) {
      const tok = await loadTokenizer(
        folder({
          'tokenizer.json': JSON.stringify({
            model: { type: 'BPE', vocab: tinyVocab, merges, end_of_word_suffix: '</w>' },
            added_tokens: [],
          }),
        }),
      );
      expect(tok.encode('lower newer')).toEqual(LOWER_NEWER);
    }
  });

  test('matches tokenizer.json added tokens whole and keeps the specials special', async () => {
    const tok = await loadTokenizer(
      folder({
        'tokenizer.json': JSON.stringify({
          model: { type: 'BPE', vocab: tinyVocab, merges: tinyMerges },
          added_tokens: [
            { id: 21, content: '<|startoftext|>', special: true },
            { id: 22, content: '<|endoftext|>', special: true },
            { id: 23, content: '<low-toy>', special: false },
          ],
        }),
      }),
    );
    expect(tok.encode('lower <low-toy>')).toEqual([10, 2, 16, 23]);
    expect(tok.vocabSize).toBe(24);
    expect(tok.addedTokens).toEqual(['<low-toy>']);
  });

  test('takes pad token (string or {content}) and model_max_length from the configs', async () => {
    const tok = await loadTokenizer(
      folder({
        'vocab.json': JSON.stringify(tinyVocab),
        'merges.txt': tinyMerges.join('\n'),
        'tokenizer_config.json': JSON.stringify({
          model_max_length: 8,
          pad_token: '<|endoftext|>',
          unk_token: '<unk>',
        }),
        'special_tokens_map.json': JSON.stringify({ pad_token: { content: 'l', lstrip: false, normalized: true } }),
      }),
    );
    expect(tok.padId).toBe(0); // special_tokens_map.json wins, as in transformers
    expect(tok.tokenize('lower')).toEqual({
      ids: [21, 10, 2, 16, 22, 0, 0, 0],
      attentionMask: [1, 1, 1, 1, 1, 0, 0, 0],
    });
    const unlimited = await loadTokenizer(
      folder({
        'vocab.json': JSON.stringify(tinyVocab),
        'merges.txt': tinyMerges.join('\n'),
        'tokenizer_config.json': JSON.stringify({ model_max_length: 1e30, unk_token: '<unk>' }),
      }),
    );
    expect(unlimited.modelMaxLength).toBe(77);
  });

  test('round-trips a learned tokenizer with an added placeholder through writeTokenizerFiles', async () => {
    const learned = trainBpe(['a photo of a cat', 'a painting of a toy'], { merges: 30 });
    const original = createClipTokenizer({ ...learned, config: { padToken: '!' } });
    const [placeholder] = original.addTokens(['<cat-toy>']);
    const loaded = await loadTokenizer(folder(writeTokenizerFiles(original)));
    const text = 'a painting of <cat-toy>, a photo of a zebra';
    expect(loaded.tokenize(text)).toEqual(original.tokenize(text));
    expect(loaded.encode('<cat-toy>')).toEqual([placeholder]);
    expect(loaded.padId).toBe(0); // '!' is byte symbol 0 in CLIP's layout
    expect(loaded.vocab).toEqual(original.vocab);
  });

  test('names the missing file', async () => {
    expect(await failure(loadTokenizer(folder({})))).toEqual({
      code: 'bad_model',
      message: 'tokenizer folder has no vocab.json and merges.txt and no tokenizer.json',
    });
    expect((await failure(loadTokenizer(folder({ 'vocab.json': '{}' })))).message).toContain('no merges.txt');
    expect((await failure(loadTokenizer(folder({ 'merges.txt': '' })))).message).toContain('no vocab.json');
  });

  test('names the file that is malformed', async () => {
    const broken = await failure(loadTokenizer(folder({ 'vocab.json': '{"a": ', 'merges.txt': '' })));
    expect(broken.code).toBe('bad_model');
    expect(broken.message).toContain('vocab.json');
    const notBpe = await failure(
      loadTokenizer(folder({ 'tokenizer.json': JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }) })),
    );
    expect(notBpe).toMatchObject({ code: 'bad_model' });
    expect(notBpe.message).toContain('WordPiece');
    const gpt2 = await failure(
      loadTokenizer(
        folder({
          'tokenizer.json': JSON.stringify({
            model: { type: 'BPE', vocab: tinyVocab, merges: [], end_of_word_suffix: null },
          }),
        }),
      ),
    );
    expect(gpt2.message).toContain('end_of_word_suffix');
    const noEos = await failure(loadTokenizer(folder({ 'vocab.json': '{"a": 0}', 'merges.txt': '' })));
    expect(noEos).toMatchObject({ code: 'bad_model' });
    expect(noEos.message).toContain('<|startoftext|>');
  });

  test('reports a failing read as io, naming the file', async () => {
    const err = await failure(
      loadTokenizer(async (f) => {
        if (f === 'merges.txt') throw new Error('disk on fire');
        return undefined;
      }),
    );
    expect(err).toEqual({ code: 'io', message: 'reading tokenizer file merges.txt failed: disk on fire' });
  });
});

describe.skipIf(!haveClip)('loadTokenizer on the real CLIP vocabulary', () => {
  const clip = haveClip ? readOpenaiBpe(readFileSync(CLIP_GZ)) : undefined;

  test('loads the SD1 layout (vocab.json + merges.txt) and gives the published ids', async () => {
    const { vocab, merges } = (await clip)!;
    const tok = await loadTokenizer(
      folder({ 'vocab.json': JSON.stringify(vocab), 'merges.txt': ['#version: 0.2', ...merges].join('\n') }),
    );
    expect(tok.tokenize('a photo of a cat', { length: 9 }).ids).toEqual([
      49406, 320, 1125, 539, 320, 2368, 49407, 49407, 49407,
    ]);
  });

  test('loads the SD2 layout from tokenizer.json with pair merges and pads with "!" (0)', async () => {
    const { vocab, merges } = (await clip)!;
    const tok = await loadTokenizer(
      folder({
        'tokenizer.json': JSON.stringify({
          model: { type: 'BPE', vocab, merges: merges.map((m) => m.split(' ')), end_of_word_suffix: '</w>' },
          added_tokens: [
            { id: 49406, content: '<|startoftext|>', special: true },
            { id: 49407, content: '<|endoftext|>', special: true },
          ],
        }),
        'special_tokens_map.json': JSON.stringify({ pad_token: { content: '!', lstrip: false } }),
        'tokenizer_config.json': JSON.stringify({ model_max_length: 77 }),
      }),
    );
    expect(tok.tokenize('a photo of a cat', { length: 9 }).ids).toEqual([
      49406, 320, 1125, 539, 320, 2368, 49407, 0, 0,
    ]);
    expect(tok.tokenize('a photo of a cat').ids).toHaveLength(77);
  });
});
