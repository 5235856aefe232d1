/**
 * Rasterises a scene to an RGBA image: each pixel is the mean of a k×k grid of sub-samples (supersampling
 * anti-aliasing), each sub-sample coloured by the object where it covers the point and by the background
 * elsewhere. Pure arithmetic on fixed tables, so the bytes are the same on every runtime.
 */
import type { RgbaImage } from '../../common/image/image.ts';
import { concepts } from './concepts.ts';
import { mix, solid, type Paint, type Rgb } from './geometry.ts';
import { colourRgb, isConcept, positionCentre, sizeRadius, type Pattern, type Scene } from './world.ts';

const grey: Rgb = [128, 128, 128];

/**
 * The background's colour at (x, y) in 64-px units: the pattern alternates the background colour with a
 * greyed tint of it (period 8 px), so the object's colour never appears in it.
 */
export const backgroundPaint = (
  pattern: Pattern,
  colour: Scene['background']['colour'],
): ((x: number, y: number) => Rgb) => {
  const main = colourRgb[colour];
  const tint = mix(main, grey, 0.55);
  switch (pattern) {
    case 'plain':
      return () => main;
    case 'striped':
      return (x) => (Math.floor(x / 4) % 2 === 0 ? main : tint);
    case 'checkered':
      return (x, y) => ((Math.floor(x / 8) + Math.floor(y / 8)) % 2 === 0 ? main : tint);
    case 'dotted':
      return (x, y) => {
        const dx = (x % 8) - 4;
        const dy = (y % 8) - 4;
        return dx * dx + dy * dy <= 2.25 ? main : tint;
      };
  }
};

/** The object's paint in its own frame: a basic shape in its colour, or the concept's own painter. */
export const objectPaint = (scene: Scene): Paint =>
  isConcept(scene.object) ? concepts[scene.object].paint(scene) : solid(scene.object, scene.colour);

/**
 * Draws a scene at `resolution` px (64 unless told) with `supersample`² sub-samples per pixel.
 *
 * @example
 * const img = renderScene({ object: 'star', colour: 'red', size: 'small', position: 'left',
 *   background: { pattern: 'striped', colour: 'blue' } });
 */
export const renderScene = (scene: Scene, resolution = 64, supersample = 4): RgbaImage => {
  const scale = resolution / 64;
  const [cx64, cy64] = positionCentre[scene.position];
  const r64 = sizeRadius[scene.size];
  const obj = objectPaint(scene);
  const bg = backgroundPaint(scene.background.pattern, scene.background.colour);
  const data = new Uint8Array(resolution * resolution * 4);
  const k = supersample;
  for (let py = 0; py < resolution; py++) {
    for (let px = 0; px < resolution; px++) {
      let r = 0,
        g = 0,
        b = 0;
      for (let sy = 0; sy < k; sy++) {
        for (let sx = 0; sx < k; sx++) {
          // Sub-sample centre in 64-px units.
          const x = (px + (sx + 0.5) / k) / scale;
          const y = (py + (sy + 0.5) / k) / scale;
          const u = (x - cx64) / r64;
          const v = (y - cy64) / r64;
          const c = (u * u + v * v <= 2 ? obj(u, v) : undefined) ?? bg(x, y);
          r += c[0];
          g += c[1];
          b += c[2];
        }
      }
      const o = (py * resolution + px) * 4;
      const n = k * k;
      data[o] = Math.round(r / n);
      data[o + 1] = Math.round(g / n);
      data[o + 2] = Math.round(b / n);
      data[o + 3] = 255;
    }
  }
  return { width: resolution, height: resolution, channels: 4, data };
};
