/**
 * The example concept folders shipped under `examples/concepts/<name>/`: a few 64×64 PNGs of each held-out concept
 * in its own colour, at varied sizes, positions and backgrounds — what a user would hand textual inversion — each
 * with a `.txt` caption beside it that says everything but the concept ("a small {} on the left on …").
 */
import { encodePng } from '../../common/image/png.ts';
import { createRng } from '../../common/numerics/rng.ts';
import { placeholderCaption } from './caption.ts';
import { concepts, heldOutConcepts } from './concepts.ts';
import { sampleConcept } from './sample.ts';
import { colours, conceptNames, type Colour, type ConceptName } from './world.ts';

/**
 * The colours of `varied` examples: every colour but the eval's colour edits (blue, yellow), so that "a blue S*"
 * still asks for a colour the word never saw.
 */
export const variedColours: readonly Colour[] = colours.filter((c) => c !== 'blue' && c !== 'yellow');

/**
 * The PNG files and their captions, keyed `<name>/<k>.png` and `<name>/<k>.txt`, for `names` (the held-out concepts
 * unless told), `count` each (5).
 * The same seed gives the same bytes. With `varied`, image k is in `variedColours[(k + the concept's index) mod 6]`
 * instead of the concept's own colour, and its caption names that colour: the experiment that asks whether a
 * word learned from several colours leaves colour to the prompt.
 *
 * @example
 * const files = await writeConceptExamples(); // { 'ringed-star/0.png': Uint8Array, … }
 */
export const writeConceptExamples = async (
  o: { names?: readonly ConceptName[]; count?: number; seed?: number; varied?: boolean } = {},
): Promise<Record<string, Uint8Array>> => {
  const files: Record<string, Uint8Array> = {};
  for (const name of o.names ?? heldOutConcepts) {
    const rng = createRng(o.seed ?? 0).fork(`examples:${name}`);
    for (let k = 0; k < (o.count ?? 5); k++) {
      const colour = o.varied
        ? variedColours[(k + conceptNames.indexOf(name)) % variedColours.length]
        : concepts[name].colour;
      const s = sampleConcept(rng.fork(`item:${k}`), name, { colour });
      files[`${name}/${k}.png`] = await encodePng(s.image);
      files[`${name}/${k}.txt`] = new TextEncoder().encode(`${placeholderCaption(s.scene, { colour: !!o.varied })}\n`);
    }
  }
  return files;
};
