/**
 * Every word the world's captions, the concepts' hand-written captions and the evaluation prompts use: the
 * tokenizer of the model trained on this world needs exactly these (plus the pseudo-words it adds later).
 */
import { positionPhrase, vagueNouns } from './caption.ts';
import { concepts } from './concepts.ts';
import { objectTemplates } from '../../common/train/templates.ts';
import { colours, patterns, positions, shapes, sizes } from './world.ts';

/**
 * The evaluation prompts, `{}` standing for the concept's word (S*, the initializer, or the hand caption). Each
 * but the first asks for one attribute the editability score checks.
 */
export const evalPromptTemplates: readonly string[] = [
  'a photo of a {}',
  'a {} on the left',
  'a {} on the right',
  'a blue {}',
  'a yellow {}',
  'a {} on a dotted background',
  'a small {}',
];

const words = (s: string) => s.split(/[^a-z]+/).filter(Boolean);

/**
 * The sorted, de-duplicated word list. It includes the words of textual inversion's object templates ("a cropped
 * photo of the {}") although pretraining captions never use them: inversion prompts with them, so the tokenizer
 * must know them (the pseudo-word carries the concept; these words only need to exist).
 *
 * @example
 * worldVocabulary.includes('striped'); // true
 */
export const worldVocabulary: readonly string[] = [
  ...new Set([
    'a',
    'an',
    'the',
    'on',
    'at',
    'in',
    'of',
    'photo',
    'background',
    ...shapes,
    ...colours,
    ...sizes,
    ...positions,
    ...patterns,
    ...vagueNouns,
    ...Object.values(positionPhrase).flatMap(words),
    ...Object.values(concepts).flatMap((c) => [...words(c.handCaption), c.initializer]),
    ...evalPromptTemplates.flatMap(words),
    ...objectTemplates.flatMap(words),
  ]),
].sort();
