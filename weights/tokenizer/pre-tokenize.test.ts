import { describe, expect, test } from 'bun:test';
import { cleanText, preTokenize } from './pre-tokenize.ts';

// Expected cuts follow OpenAI CLIP's pattern (simple_tokenizer.py) read by hand: contractions first, letter runs,
// one digit at a time, runs of other non-space characters.
describe('preTokenize', () => {
  test('cuts contractions, single digits and punctuation runs', () => {
    expect(preTokenize("It's 42!")).toEqual(['it', "'s", '4', '2', '!']);
    expect(preTokenize("they'RE here...")).toEqual(['they', "'re", 'here', '...']);
    expect(preTokenize('snake_case, kebab-case')).toEqual(['snake', '_', 'case', ',', 'kebab', '-', 'case']);
  });

  test('keeps the two special tokens whole', () => {
    expect(preTokenize('<|startoftext|>hi<|endoftext|>')).toEqual(['<|startoftext|>', 'hi', '<|endoftext|>']);
  });

  test('treats letters of any script as words and marks as punctuation', () => {
    expect(preTokenize('Ελληνικά café')).toEqual(['ελληνικά', 'café']);
    expect(preTokenize('ปี')).toEqual(['ป', '\u0e35']); // the vowel sign is a mark (Mn), not a letter
  });
});

describe('cleanText', () => {
  test('collapses Unicode whitespace, strips, lowercases and composes accents', () => {
    expect(cleanText('\u2003 A\u00a0Photo\t\r\n OF  ')).toBe('a photo of');
    expect(cleanText('Cafe\u0301')).toBe('caf\u00e9');
  });

  test('keeps a zero-width no-break space, which is not whitespace in Unicode', () => {
    expect(cleanText('a\ufeffb')).toBe('a\ufeffb');
  });
});
