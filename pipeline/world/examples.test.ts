import { describe, expect, it } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { decodePng } from '../image/png.ts';
import { heldOutConcepts } from './concepts.ts';
import { writeConceptExamples } from './examples.ts';
import { parseCaption } from './caption.ts';
import { recognise } from './recognise.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';

describe('concept examples', () => {
  it('writes five 64×64 PNGs per held-out concept with a caption each, the same bytes for the same seed', async () => {
    const a = await writeConceptExamples();
    const b = await writeConceptExamples();
    expect(Object.keys(a).sort()).toEqual(heldOutConcepts.flatMap((c) => [0, 1, 2, 3, 4].flatMap((k) => [`${c}/${k}.png`, `${c}/${k}.txt`])).sort());
    for (const [k, bytes] of Object.entries(a)) {
      expect(b[k]).toEqual(bytes);
      if (k.endsWith('.txt')) continue;
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

  it("captions each image with its size, position and background as the recogniser reads them, and not the concept's colour", async () => {
    const files = await writeConceptExamples({ names: ['ringed-star'] });
    const recogniser = await ortSessionFactory.create(new Uint8Array(readFileSync(new URL('../../weights/shipped/recogniser/model.onnx', import.meta.url))));
    for (let k = 0; k < 5; k++) {
      const caption = new TextDecoder().decode(files[`ringed-star/${k}.txt`]).trim();
      expect(caption).toContain('{}');
      const said = parseCaption(caption.replace('{}', 'S*'));
      expect(said.colour).toBeUndefined();
      const seen = (await recognise(recogniser, [await decodePng(files[`ringed-star/${k}.png`])]))[0].labels;
      expect<(string | undefined)[]>([said.size, said.position, said.pattern, said.backgroundColour]).toEqual([seen.size, seen.position, seen.pattern, seen.background]);
    }
  });
});
