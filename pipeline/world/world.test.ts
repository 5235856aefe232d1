import { describe, expect, it } from 'bun:test';
import { createRng } from '../../common/numerics/rng.ts';
import { crc32 } from '../../common/crc32.ts';
import {
  captionScene,
  colourRgb,
  concepts,
  createWorld,
  heldOutConcepts,
  parseCaption,
  positionCentre,
  randomScene,
  renderScene,
  sampleConcept,
  sampleScene,
  shapes,
  vagueConcepts,
  worldVocabulary,
  conceptNames,
  type Scene,
} from './index.ts';
import { mix } from './geometry.ts';

const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));
const scene = (over: Partial<Scene> = {}): Scene => ({
  object: 'circle',
  colour: 'red',
  size: 'large',
  position: 'center',
  background: { pattern: 'plain', colour: 'blue' },
  ...over,
});

describe('world samples', () => {
  it('gives the same image bytes and caption for the same seed, and different ones for another', () => {
    const a = sampleScene(createRng(5).fork('item:3'));
    const b = sampleScene(createRng(5).fork('item:3'));
    const c = sampleScene(createRng(6).fork('item:3'));
    expect(b.caption).toBe(a.caption);
    expect(b.image.data).toEqual(a.image.data);
    expect(crc32(c.image.data) === crc32(a.image.data) && c.caption === a.caption).toBe(false);
  });

  it('keeps the bytes of a pinned sample, so every runtime renders the same world', () => {
    // Pinned from a Bun run; Deno and Node must match (the renderer uses arithmetic only).
    const s = sampleScene(createRng(0).fork('item:0'));
    expect(s.caption).toBe(PINNED_CAPTION);
    expect(crc32(s.image.data)).toBe(PINNED_CRC);
  });

  it('draws 64×64 opaque RGBA images', () => {
    const { image } = sampleScene(createRng(1));
    expect([image.width, image.height, image.data.length]).toEqual([64, 64, 64 * 64 * 4]);
    expect(image.data.filter((_, i) => i % 4 === 3).every((a) => a === 255)).toBe(true);
  });

  it('never shows a held-out concept in pretraining samples, and shows the vague ones under vague captions', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const s = sampleScene(createRng(2).fork(`item:${i}`), { conceptRate: 0.5 });
      seen.add(s.scene.object);
      if ((vagueConcepts as readonly string[]).includes(s.scene.object))
        expect(s.caption).toMatch(/\b(object|thing|shape)\b/);
    }
    for (const c of heldOutConcepts) expect(seen.has(c)).toBe(false);
    for (const c of vagueConcepts) expect(seen.has(c)).toBe(true);
  });
});

describe('captions', () => {
  it('read back to the scene attributes in their full form', () => {
    const rng = createRng(3);
    for (let i = 0; i < 200; i++) {
      const s = randomScene(rng.fork(`s${i}`), shapes[i % shapes.length]);
      expect(parseCaption(captionScene(s))).toEqual({
        shape: s.object as never,
        colour: s.colour,
        size: s.size,
        position: s.position,
        pattern: s.background.pattern,
        backgroundColour: s.background.colour,
      });
    }
  });

  it('state only true attributes in their shuffled and shortened variants', () => {
    const rng = createRng(4);
    for (let i = 0; i < 300; i++) {
      const s = randomScene(rng.fork(`s${i}`), shapes[i % shapes.length]);
      const p = parseCaption(captionScene(s, rng.fork(`c${i}`), { dropRate: 0.4 }));
      expect(p.shape).toBe(s.object as never);
      expect(p.colour).toBe(s.colour);
      if (p.size) expect(p.size).toBe(s.size);
      if (p.position) expect(p.position).toBe(s.position);
      if (p.pattern) expect([p.pattern, p.backgroundColour]).toEqual([s.background.pattern, s.background.colour]);
    }
  });

  it('reads the canonical example and the eval prompts', () => {
    expect(
      captionScene(
        scene({ object: 'star', size: 'small', position: 'left', background: { pattern: 'striped', colour: 'blue' } }),
      ),
    ).toBe('a small red star on the left on a blue striped background');
    expect(parseCaption('a S* on the left')).toEqual({ position: 'left' });
    expect(parseCaption('a blue S*')).toEqual({ colour: 'blue' });
    expect(parseCaption('a S* on a dotted background')).toEqual({ pattern: 'dotted' });
  });

  it('use only vocabulary words', () => {
    const vocab = new Set(worldVocabulary);
    const rng = createRng(9);
    for (let i = 0; i < 80; i++) {
      const { caption } = sampleScene(rng.fork(`i${i}`), { conceptRate: 0.5 });
      for (const w of caption.split(' ')) expect(vocab.has(w)).toBe(true);
    }
  });
});

describe('renderer', () => {
  it('draws the object colour at its centre and the background far from it', () => {
    for (const position of createWorld().positions) {
      const img = renderScene(scene({ position, size: 'small' }));
      const [cx, cy] = positionCentre[position];
      expect(pixel(img, cx, cy)).toEqual([...colourRgb.red]);
      // The opposite corner region is ≥ 20 px from any small object.
      const far = position === 'left' || position === 'top' ? 62 : 1;
      expect(pixel(img, far, far)).toEqual([...colourRgb.blue]);
    }
  });

  it('fills a patterned background with its colour and its greyed tint only', () => {
    const img = renderScene(
      scene({ object: 'circle', size: 'small', background: { pattern: 'checkered', colour: 'green' } }),
    );
    const tint = mix(colourRgb.green, [128, 128, 128], 0.55).map(Math.round);
    // Pixel (1,1) lies in the first (main) check, (9,1) in the second (tint); both far from the object.
    expect(pixel(img, 1, 1)).toEqual([...colourRgb.green]);
    expect(pixel(img, 9, 1)).toEqual(tint);
  });

  it('anti-aliases edges with intermediate values', () => {
    const img = renderScene(scene({ object: 'circle', size: 'large' }));
    // Row 38 cuts the circle's edge between pixel boundaries.
    const row = Array.from({ length: 64 }, (_, x) => pixel(img, x, 38)[0]);
    expect(row.some((r) => r > colourRgb.blue[0] + 5 && r < colourRgb.red[0] - 5)).toBe(true);
  });
});

describe('concepts', () => {
  it('lists held-out and vague-caption concepts, both non-empty', () => {
    expect(heldOutConcepts.length).toBeGreaterThanOrEqual(2);
    expect(vagueConcepts.length).toBeGreaterThanOrEqual(2);
    expect(heldOutConcepts.length + vagueConcepts.length).toBe(conceptNames.length);
  });

  it('differ from their initializer shape drawn in the same scene', () => {
    for (const name of conceptNames) {
      const base = randomScene(createRng(11), name, concepts[name].colour);
      const a = renderScene(base).data;
      const b = renderScene({ ...base, object: concepts[name].initializer as Scene['object'] }).data;
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
      // At least ~20 fully changed pixels' worth.
      expect(diff / 255).toBeGreaterThan(20);
    }
  });

  it('are drawn in the colour a scene asks for', () => {
    const s = sampleConcept(createRng(12), 'checkered-heart', { colour: 'blue' });
    expect(s.scene.colour).toBe('blue');
    const [cx, cy] = positionCentre[s.scene.position];
    let blue = 0;
    for (let y = cy - 4; y <= cy + 4; y++)
      for (let x = cx - 4; x <= cx + 4; x++) if (pixel(s.image, x, y).join() === colourRgb.blue.join()) blue++;
    expect(blue).toBeGreaterThan(10);
  });
});

const PINNED_CAPTION = 'a white circle in the center on a plain green background';
const PINNED_CRC = 2212416489;
