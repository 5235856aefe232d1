/**
 * Shape geometry in an object's own frame: (u, v) in units of the object's radius, v pointing down, the object
 * filling roughly the unit disc. Only arithmetic (no trig, no logs), so every runtime rasterises the same bytes.
 */
import type { Colour, Shape } from './world.ts';
import { colourRgb } from './world.ts';

export type Rgb = readonly [number, number, number];
/** The colour at (u, v) in the object's frame, or undefined where the object is transparent. */
export type Paint = (u: number, v: number) => Rgb | undefined;

// A five-pointed star, outer radius 1, inner 0.42, first point straight up (literal values, no trig at load).
const starVertices: readonly (readonly [number, number])[] = [
  [0, -1],
  [0.2469, -0.3398],
  [0.9511, -0.309],
  [0.3994, 0.1298],
  [0.5878, 0.809],
  [0, 0.42],
  [-0.5878, 0.809],
  [-0.3994, 0.1298],
  [-0.9511, -0.309],
  [-0.2469, -0.3398],
];

/** Even-odd point-in-polygon test (a ray to +u; count the edges it crosses). */
const inPolygon = (poly: readonly (readonly [number, number])[], u: number, v: number): boolean => {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ui, vi] = poly[i];
    const [uj, vj] = poly[j];
    if (vi > v !== vj > v && u < ((uj - ui) * (v - vi)) / (vj - vi) + ui) inside = !inside;
  }
  return inside;
};

/** Inside-tests of the basic shapes, each covering about the unit disc. */
export const shapeInside: Readonly<Record<Shape, (u: number, v: number) => boolean>> = {
  circle: (u, v) => u * u + v * v <= 1,
  square: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8,
  // Apex up at v = −0.95, base at v = 0.75 spanning u = ±0.95.
  triangle: (u, v) => v <= 0.75 && v >= -0.95 && Math.abs(u) <= (0.95 * (v + 0.95)) / 1.7,
  star: (u, v) => inPolygon(starVertices, u, v),
  ring: (u, v) => {
    const r2 = u * u + v * v;
    return r2 <= 1 && r2 >= 0.55 * 0.55;
  },
  cross: (u, v) => (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.95) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.95),
  // The classic implicit heart (x² + y² − 1)³ − x²y³ ≤ 0, y up, scaled into the unit disc.
  heart: (u, v) => {
    const x = u * 1.15;
    const y = -v * 1.15 + 0.12;
    const a = x * x + y * y - 1;
    return a * a * a - x * x * y * y * y <= 0;
  },
  diamond: (u, v) => Math.abs(u) + Math.abs(v) <= 1,
};

/**
 * A solid shape of one colour, optionally scaled (`scale` < 1 shrinks it) and shifted within the frame.
 *
 * @example
 * const p = solid('star', 'red', 0.6); // a star of 0.6 radii
 */
export const solid = (shape: Shape, colour: Colour, scale = 1, du = 0, dv = 0): Paint => {
  const inside = shapeInside[shape];
  const rgb = colourRgb[colour];
  return (u, v) => (inside((u - du) / scale, (v - dv) / scale) ? rgb : undefined);
};

/**
 * Layers painted front to back: the first that covers a point gives its colour.
 *
 * @example
 * const p = over(solid('cross', 'white', 0.7), solid('circle', 'red'));
 */
export const over =
  (...layers: Paint[]): Paint =>
  (u, v) => {
    for (const layer of layers) {
      const c = layer(u, v);
      if (c) return c;
    }
    return undefined;
  };

/** Mixes two colours, `t` of the way from a to b. */
export const mix = (a: Rgb, b: Rgb, t: number): Rgb => [
  a[0] + (b[0] - a[0]) * t,
  a[1] + (b[1] - a[1]) * t,
  a[2] + (b[2] - a[2]) * t,
];
