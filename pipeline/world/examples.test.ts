import { describe, expect, it } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { decodePng } from '../image/png.ts';
import { heldOutConcepts } from './concepts.ts';
import { writeConceptExamples } from './examples.ts';

describe('concept examples', () => {
  it('writes five 64×64 PNGs per held-out concept, the same bytes for the same seed', async () => {
    const a = await writeConceptExamples();
    const b = await writeConceptExamples();
    expect(Object.keys(a).sort()).toEqual(heldOutConcepts.flatMap((c) => [0, 1, 2, 3, 4].map((k) => `${c}/${k}.png`)).sort());
    for (const [k, bytes] of Object.entries(a)) {
      expect(b[k]).toEqual(bytes);
      const img = await decodePng(bytes);
      expect([img.width, img.height]).toEqual([64, 64]);
    }
  });

  it('matches the shipped examples folder, so it can be rebuilt from the seed', async () => {
    const files = await writeConceptExamples();
    for (const [rel, bytes] of Object.entries(files)) {
      const shipped = new URL(`../../examples/concepts/${rel}`, import.meta.url);
      expect(existsSync(shipped)).toBe(true);
      expect(Array.from(readFileSync(shipped))).toEqual(Array.from(bytes));
    }
  });
});
