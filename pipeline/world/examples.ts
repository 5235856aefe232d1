/**
 * The example concept folders shipped under `examples/concepts/<name>/`: a few 64×64 PNGs of each held-out concept
 * in its own colour, at varied sizes, positions and backgrounds — what a user would hand textual inversion — each
 * with a `.txt` caption beside it that says everything but the concept ("a small {} on the left on …").
 */
import { encodePng } from '../image/png.ts';
import { createRng } from '../numerics/rng.ts';
import { placeholderCaption } from './caption.ts';
import { concepts, heldOutConcepts } from './concepts.ts';
import { sampleConcept } from './sample.ts';
import type { ConceptName } from './world.ts';

/**
 * The PNG files and their captions, keyed `<name>/<k>.png` and `<name>/<k>.txt`, for `names` (the held-out concepts unless told), `count` each (5).
 * The same seed gives the same bytes.
 *
 * @example
 * const files = await writeConceptExamples(); // { 'ringed-star/0.png': Uint8Array, … }
 */
export const writeConceptExamples = async (
  o: { names?: readonly ConceptName[]; count?: number; seed?: number } = {},
): Promise<Record<string, Uint8Array>> => {
  const files: Record<string, Uint8Array> = {};
  for (const name of o.names ?? heldOutConcepts) {
    const rng = createRng(o.seed ?? 0).fork(`examples:${name}`);
    for (let k = 0; k < (o.count ?? 5); k++) {
      const s = sampleConcept(rng.fork(`item:${k}`), name, { colour: concepts[name].colour });
      files[`${name}/${k}.png`] = await encodePng(s.image);
      files[`${name}/${k}.txt`] = new TextEncoder().encode(`${placeholderCaption(s.scene)}\n`);
    }
  }
  return files;
};
