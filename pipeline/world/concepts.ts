/**
 * The concepts for inversion: composite objects the model can draw (their parts are words it knows) but has no
 * word for. Some appear in pretraining under vague captions only ("an object"), some are held out entirely so
 * that inversion is tested on something the model never saw. Each paints itself in the scene's main colour with
 * a fixed accent, so "S* in blue" and "S* on the left" still mean something.
 */
import type { Colour, ConceptName, Scene } from './world.ts';
import { colourRgb } from './world.ts';
import { over, solid, type Paint } from './geometry.ts';

export interface Concept {
  readonly name: ConceptName;
  /** A short description for people (never used in captions). */
  readonly description: string;
  /** The coarse word textual inversion starts from (the paper's initializer). */
  readonly initializer: string;
  /** The best hand-written noun phrase for it in known words (the paper's "human caption" baseline), without an
   * article: it replaces `{}` in "a photo of a {}". */
  readonly handCaption: string;
  /** The colour its example images use. */
  readonly colour: Colour;
  /** 'vague': in pretraining under vague captions; 'held-out': never in pretraining. */
  readonly pretraining: 'vague' | 'held-out';
  /** Paints it in the object's frame for the scene's colour. */
  paint(scene: Scene): Paint;
}

/** A colour that stands out against `c` for accents: white, or black on white/yellow objects. */
const accentFor = (c: Colour): Colour => (c === 'white' || c === 'yellow' ? 'black' : 'white');

const striped =
  (fg: Colour, bg: Colour, inside: Paint, period: number): Paint =>
  (u, v) => {
    if (!inside(u, v)) return undefined;
    return Math.floor((v + 2) / period) % 2 === 0 ? colourRgb[fg] : colourRgb[bg];
  };

const checkered =
  (fg: Colour, bg: Colour, inside: Paint, cell: number): Paint =>
  (u, v) => {
    if (!inside(u, v)) return undefined;
    return (Math.floor((u + 2) / cell) + Math.floor((v + 2) / cell)) % 2 === 0 ? colourRgb[fg] : colourRgb[bg];
  };

/** All concepts, by name. */
export const concepts: Readonly<Record<ConceptName, Concept>> = {
  'ringed-star': {
    name: 'ringed-star',
    description: 'a star inside a ring of the accent colour',
    initializer: 'star',
    handCaption: 'star in a white ring',
    colour: 'orange',
    pretraining: 'held-out',
    paint: (s) => over(solid('star', s.colour, 0.66), solid('ring', accentFor(s.colour))),
  },
  'checkered-heart': {
    name: 'checkered-heart',
    description: 'a heart filled with a checkerboard of its colour and the accent',
    initializer: 'heart',
    handCaption: 'checkered heart',
    colour: 'red',
    pretraining: 'held-out',
    paint: (s) => checkered(s.colour, accentFor(s.colour), solid('heart', s.colour), 0.45),
  },
  bullseye: {
    name: 'bullseye',
    description: 'a ring around a dot, both in its colour',
    initializer: 'ring',
    handCaption: 'circle inside a ring',
    colour: 'purple',
    pretraining: 'held-out',
    paint: (s) => over(solid('circle', s.colour, 0.32), solid('ring', s.colour)),
  },
  'crossed-circle': {
    name: 'crossed-circle',
    description: 'a circle with an accent cross inside',
    initializer: 'circle',
    handCaption: 'white cross in a circle',
    colour: 'green',
    pretraining: 'vague',
    paint: (s) => over(solid('cross', accentFor(s.colour), 0.72), solid('circle', s.colour)),
  },
  'striped-diamond': {
    name: 'striped-diamond',
    description: 'a diamond striped in its colour and the accent',
    initializer: 'diamond',
    handCaption: 'striped diamond',
    colour: 'blue',
    pretraining: 'vague',
    paint: (s) => striped(s.colour, accentFor(s.colour), solid('diamond', s.colour), 0.3),
  },
  'twin-triangles': {
    name: 'twin-triangles',
    description: 'two small triangles side by side',
    initializer: 'triangle',
    handCaption: 'pair of triangles',
    colour: 'yellow',
    pretraining: 'vague',
    paint: (s) => over(solid('triangle', s.colour, 0.5, -0.5, 0), solid('triangle', s.colour, 0.5, 0.5, 0)),
  },
};

/** Names of the concepts seen in pretraining under vague captions. */
export const vagueConcepts: readonly ConceptName[] = Object.values(concepts)
  .filter((c) => c.pretraining === 'vague')
  .map((c) => c.name);
/** Names of the concepts kept out of pretraining entirely (the ones inversion is evaluated on). */
export const heldOutConcepts: readonly ConceptName[] = Object.values(concepts)
  .filter((c) => c.pretraining === 'held-out')
  .map((c) => c.name);
