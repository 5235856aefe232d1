/**
 * The procedural world the project's own text-to-image model learns: one object (a shape, or one of the named
 * composite concepts) of a colour and size at a position, over a patterned background of another colour.
 * Everything here is plain data, so the renderer, the captioner, the recogniser's labels and the evaluation
 * prompts all read the same lists.
 */

/** Basic shapes: each has a word in the captions. */
export const shapes = ['circle', 'square', 'triangle', 'star', 'ring', 'cross', 'heart', 'diamond'] as const;
/** Object and background colours. */
export const colours = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'white', 'black'] as const;
export const sizes = ['small', 'large'] as const;
export const positions = ['left', 'right', 'top', 'bottom', 'center'] as const;
export const patterns = ['plain', 'striped', 'dotted', 'checkered'] as const;
/** The composite concepts (see `concepts.ts`): objects the captions never name. */
export const conceptNames = [
  'ringed-star',
  'crossed-circle',
  'checkered-heart',
  'bullseye',
  'striped-diamond',
  'twin-triangles',
] as const;

export type Shape = (typeof shapes)[number];
export type Colour = (typeof colours)[number];
export type Size = (typeof sizes)[number];
export type Position = (typeof positions)[number];
export type Pattern = (typeof patterns)[number];
export type ConceptName = (typeof conceptNames)[number];
/** What the object is: a basic shape or a composite concept. */
export type ObjectKind = Shape | ConceptName;

/** One picture's content. `colour` is the object's (main) colour; the background's differs from it. */
export interface Scene {
  readonly object: ObjectKind;
  readonly colour: Colour;
  readonly size: Size;
  readonly position: Position;
  readonly background: { readonly pattern: Pattern; readonly colour: Colour };
}

/** sRGB bytes of each colour word; picked far apart so a small recogniser (and a small model) can tell them. */
export const colourRgb: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [240, 210, 40],
  purple: [140, 60, 180],
  orange: [245, 140, 30],
  white: [245, 245, 245],
  black: [20, 20, 20],
};

/** Object centre (pixels of a 64-px image, scaled for other sizes) per position word. */
export const positionCentre: Readonly<Record<Position, readonly [number, number]>> = {
  left: [18, 32],
  right: [46, 32],
  top: [32, 18],
  bottom: [32, 46],
  center: [32, 32],
};

/** Object radius in pixels of a 64-px image per size word. */
export const sizeRadius: Readonly<Record<Size, number>> = { small: 9, large: 16 };

/** The world's attribute lists in one object, what `createWorld` returns. */
export interface World {
  readonly resolution: number;
  readonly shapes: readonly Shape[];
  readonly colours: readonly Colour[];
  readonly sizes: readonly Size[];
  readonly positions: readonly Position[];
  readonly patterns: readonly Pattern[];
  readonly concepts: readonly ConceptName[];
}

/**
 * The world at a resolution (64 px unless told; positions and sizes scale with it).
 *
 * @example
 * const w = createWorld();
 * w.shapes.length; // 8
 */
export const createWorld = (resolution = 64): World => ({
  resolution,
  shapes,
  colours,
  sizes,
  positions,
  patterns,
  concepts: conceptNames,
});

/** Whether an object kind is one of the composite concepts. */
export const isConcept = (o: ObjectKind): o is ConceptName => (conceptNames as readonly string[]).includes(o);
