/**
 * Captions from a small grammar — "a small red star on the left on a blue striped background" — with variants
 * (clause order, attributes left out), vague captions for the concepts ("an object", "a red thing on the
 * left"), and a parser that reads the attributes back, which is how the tests check the grammar is unambiguous.
 */
import type { Rng } from '../../common/numerics/rng.ts';
import {
  colours,
  isConcept,
  patterns,
  positions,
  shapes,
  sizes,
  type Colour,
  type Pattern,
  type Position,
  type Scene,
  type Shape,
  type Size,
} from './world.ts';

/** The phrase for each position word. */
export const positionPhrase: Readonly<Record<Position, string>> = {
  left: 'on the left',
  right: 'on the right',
  top: 'at the top',
  bottom: 'at the bottom',
  center: 'in the center',
};

/** The nouns of vague captions. */
export const vagueNouns = ['object', 'thing', 'shape'] as const;

/** "a" or "an" before a word. */
export const article = (next: string): string => (/^[aeiou]/.test(next) ? 'an' : 'a');

/** "on a blue striped background", or "on a plain blue background". */
export const backgroundPhrase = (bg: Scene['background']): string =>
  bg.pattern === 'plain'
    ? `on a plain ${bg.colour} background`
    : `on ${article(bg.colour)} ${bg.colour} ${bg.pattern} background`;

export interface CaptionOptions {
  /** Probability of leaving out each optional clause (size, position, background); 0 gives full captions. */
  dropRate?: number;
}

const join = (noun: string[], clauses: string[]): string => {
  const head = noun.join(' ');
  return [`${article(head)} ${head}`, ...clauses].join(' ');
};

/**
 * A caption naming the scene's object. Without an rng it is the one canonical full form; with one, clauses may
 * swap order and be dropped (`dropRate`, 0.15 unless told). Concepts have no word, so they get `vagueCaption`.
 *
 * @example
 * captionScene({ object: 'star', colour: 'red', size: 'small', position: 'left',
 *   background: { pattern: 'striped', colour: 'blue' } });
 * // 'a small red star on the left on a blue striped background'
 */
export const captionScene = (scene: Scene, rng?: Rng, options: CaptionOptions = {}): string => {
  if (isConcept(scene.object)) return vagueCaption(scene, rng);
  const drop = rng ? (options.dropRate ?? 0.15) : 0;
  const keep = () => !rng || rng.uniform() >= drop;
  const noun = [...(keep() ? [scene.size] : []), scene.colour, scene.object];
  const clauses = [
    ...(keep() ? [positionPhrase[scene.position]] : []),
    ...(keep() ? [backgroundPhrase(scene.background)] : []),
  ];
  if (rng && clauses.length === 2 && rng.uniform() < 0.3) clauses.reverse();
  return join(noun, clauses);
};

/**
 * A caption that does not say what the object is: "an object", "a thing", or with some of the other attributes
 * ("a red thing on the left"). Without an rng: the bare "an object".
 *
 * @example
 * vagueCaption(scene); // 'an object'
 */
export const vagueCaption = (scene: Scene, rng?: Rng): string => {
  if (!rng) return 'an object';
  const noun: string[] = [];
  if (rng.uniform() < 0.3) noun.push(scene.size);
  if (rng.uniform() < 0.5) noun.push(scene.colour);
  noun.push(vagueNouns[rng.int(vagueNouns.length)]);
  const clauses: string[] = [];
  if (rng.uniform() < 0.5) clauses.push(positionPhrase[scene.position]);
  if (rng.uniform() < 0.4) clauses.push(backgroundPhrase(scene.background));
  return join(noun, clauses);
};

/**
 * The caption of a concept's scene with `{}` where the concept's word goes, for the example folders' `.txt` files:
 * size, position and background said, so a word learned from them need not carry those; the colour left out, as
 * it belongs to the concept, unless `colour` (examples in varied colours).
 *
 * @example
 * placeholderCaption(scene); // 'a small {} on the left on a plain red background'
 * placeholderCaption(scene, { colour: true }); // 'a small orange {} on the left on a plain red background'
 */
export const placeholderCaption = (scene: Scene, o: { colour?: boolean } = {}): string =>
  [
    `a ${scene.size}${o.colour ? ` ${scene.colour}` : ''} {}`,
    positionPhrase[scene.position],
    backgroundPhrase(scene.background),
  ].join(' ');

/** The attributes a caption states; a field is absent when the caption does not say. */
export interface CaptionAttributes {
  shape?: Shape;
  colour?: Colour;
  size?: Size;
  position?: Position;
  pattern?: Pattern;
  backgroundColour?: Colour;
}

const inList = <T extends string>(list: readonly T[], w: string): w is T => (list as readonly string[]).includes(w);

/**
 * Reads the attributes back from a caption of this grammar (or an eval prompt in it: "S* on the left", "a blue
 * S*"). Colour words before the background clause are the object's; those inside it are the background's.
 *
 * @example
 * parseCaption('a small red star on the left on a blue striped background');
 * // { size: 'small', colour: 'red', shape: 'star', position: 'left', backgroundColour: 'blue', pattern: 'striped' }
 */
export const parseCaption = (caption: string): CaptionAttributes => {
  const words = caption
    .toLowerCase()
    .replace(/[^a-z0-9*\s-]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
  const out: CaptionAttributes = {};
  const bgEnd = words.indexOf('background');
  // The background clause runs from the last "on" before "background" to it.
  const bgStart = bgEnd < 0 ? -1 : words.lastIndexOf('on', bgEnd);
  words.forEach((w, i) => {
    const inBg = bgStart >= 0 && i > bgStart && i < bgEnd;
    if (inBg) {
      if (inList(colours, w)) out.backgroundColour = w;
      else if (inList(patterns, w)) out.pattern = w;
      return;
    }
    if (inList(shapes, w) && out.shape === undefined) out.shape = w;
    else if (inList(colours, w) && out.colour === undefined) out.colour = w;
    else if (inList(sizes, w)) out.size = w;
    else if (inList(positions, w)) out.position = w;
  });
  if (out.pattern === undefined && out.backgroundColour !== undefined) out.pattern = 'plain';
  return out;
};
