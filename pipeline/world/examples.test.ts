import { describe, expect, it } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { decodePng } from '../../common/image/png.ts';
import { heldOutConcepts } from './concepts.ts';
import { variedColours, writeConceptExamples } from './examples.ts';
import { parseCaption } from './caption.ts';
import { colourRgb } from './world.ts';
import { recognise } from './recognise.ts';
import { ortSessionFactory } from '../../adapters/ort-session.ts';

describe('concept examples', () => {
  it('writes five 64×64 PNGs per held-out concept with a caption each, the same bytes for the same seed', async () => {
    const a = await writeConceptExamples();
    const b = await writeConceptExamples();
    expect(Object.keys(a).sort()).toEqual(
      heldOutConcepts.flatMap((c) => [0, 1, 2, 3, 4].flatMap((k) => [`${c}/${k}.png`, `${c}/${k}.txt`])).sort(),
    );
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
    const recogniser = await ortSessionFactory.create(
      new Uint8Array(readFileSync(new URL('../../weights/shipped/recogniser/model.onnx', import.meta.url))),
    );
    for (let k = 0; k < 5; k++) {
      const caption = new TextDecoder().decode(files[`ringed-star/${k}.txt`]).trim();
      expect(caption).toContain('{}');
      const said = parseCaption(caption.replace('{}', 'S*'));
      expect(said.colour).toBeUndefined();
      const seen = (await recognise(recogniser, [await decodePng(files[`ringed-star/${k}.png`])]))[0].labels;
      expect<(string | undefined)[]>([said.size, said.position, said.pattern, said.backgroundColour]).toEqual([
        seen.size,
        seen.position,
        seen.pattern,
        seen.background,
      ]);
    }
  });

  it('writes varied-colour examples in colours other than blue and yellow, several per concept, each caption naming its colour', async () => {
    const files = await writeConceptExamples({ names: ['ringed-star'], varied: true });
    const said = [0, 1, 2, 3, 4].map(
      (k) => parseCaption(new TextDecoder().decode(files[`ringed-star/${k}.txt`]).replace('{}', 'S*')).colour,
    );
    expect(new Set(said).size).toBe(5);
    for (const c of said) expect(variedColours).toContain(c!);
    for (let k = 0; k < 5; k++) {
      // The named colour is painted: count the pixels of exactly its sRGB (the background is another colour).
      const img = await decodePng(files[`ringed-star/${k}.png`]);
      const [r, g, b] = colourRgb[said[k]!];
      let n = 0;
      for (let i = 0; i < img.data.length; i += img.channels)
        if (img.data[i] === r && img.data[i + 1] === g && img.data[i + 2] === b) n++;
      expect(n).toBeGreaterThan(20);
    }
  });
});
