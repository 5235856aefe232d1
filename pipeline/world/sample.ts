/**
 * Seeded scene sampling: an unbounded, deterministic stream of (scene, image, caption) triples for pretraining,
 * the recogniser and the concept examples. Each draw takes its own `fork`s of the stream it is given, so adding a
 * field to one part never shifts the others.
 */
import type { RgbaImage } from '../../common/image/image.ts';
import type { Rng } from '../../common/numerics/rng.ts';
import { captionScene, vagueCaption } from './caption.ts';
import { concepts, vagueConcepts } from './concepts.ts';
import { renderScene } from './render.ts';
import {
  colours,
  patterns,
  positions,
  shapes,
  sizes,
  type Colour,
  type ConceptName,
  type ObjectKind,
  type Scene,
} from './world.ts';

/** One training example. */
export interface WorldSample {
  readonly scene: Scene;
  readonly image: RgbaImage;
  readonly caption: string;
}

export interface SampleOptions {
  /** Image size in pixels; 64 unless told. */
  resolution?: number;
  /** Probability that the object is one of the vague-caption concepts (0.1 unless told). Held-out ones never appear. */
  conceptRate?: number;
  /** Objects to draw from instead of the basic shapes (+ vague concepts); the recogniser uses every kind. */
  objects?: readonly ObjectKind[];
  /** Fix the object's colour (the concept examples do). */
  colour?: Colour;
}

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(list.length)];

/**
 * A random scene: every attribute uniform, the background colour different from the object's.
 *
 * @example
 * const scene = randomScene(createRng(1), 'star');
 */
export const randomScene = (rng: Rng, object: ObjectKind, colour?: Colour): Scene => {
  const c = colour ?? pick(rng, colours);
  const bgColours = colours.filter((x) => x !== c);
  return {
    object,
    colour: c,
    size: pick(rng, sizes),
    position: pick(rng, positions),
    background: { pattern: pick(rng, patterns), colour: pick(rng, bgColours) },
  };
};

/**
 * One pretraining sample: mostly basic shapes with grammar captions; now and then (`conceptRate`) a vague-caption
 * concept with a vague caption.
 *
 * @example
 * const { image, caption, scene } = sampleScene(createRng(7).fork('item:0'));
 */
export const sampleScene = (rng: Rng, options: SampleOptions = {}): WorldSample => {
  const pickRng = rng.fork('object');
  let object: ObjectKind;
  if (options.objects) object = pick(pickRng, options.objects);
  else
    object =
      pickRng.uniform() < (options.conceptRate ?? 0.1) && vagueConcepts.length > 0
        ? pick(pickRng, vagueConcepts)
        : pick(pickRng, shapes);
  const scene = randomScene(rng.fork('scene'), object, options.colour);
  return {
    scene,
    image: renderScene(scene, options.resolution ?? 64),
    caption: captionScene(scene, rng.fork('caption')),
  };
};

/**
 * A sample of one concept with a vague caption; its colour is the concept's own unless `colour` says otherwise.
 *
 * @example
 * const s = sampleConcept(createRng(3), 'crossed-circle');
 */
export const sampleConcept = (
  rng: Rng,
  name: ConceptName,
  options: { resolution?: number; colour?: Colour } = {},
): WorldSample => {
  const scene = randomScene(rng.fork('scene'), name, options.colour ?? concepts[name].colour);
  return {
    scene,
    image: renderScene(scene, options.resolution ?? 64),
    caption: vagueCaption(scene, rng.fork('caption')),
  };
};

/**
 * The `index`-th item of the deterministic stream for `seed`: the same (seed, index) always gives the same sample.
 *
 * @example
 * const s = worldSampleAt(createRng(0), 12);
 */
export const worldSampleAt = (root: Rng, index: number, options: SampleOptions = {}): WorldSample =>
  sampleScene(root.fork(`item:${index}`), options);
