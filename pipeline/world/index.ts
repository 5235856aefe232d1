/**
 * The procedural world: scenes, their images and captions, the concepts for inversion, the vocabulary, and (in
 * `recogniser.ts` / `eval.ts`) the recogniser and the evaluation protocol built on them.
 *
 * @example
 * import { createRng } from '../numerics/rng.ts';
 * import { sampleScene } from './index.ts';
 * const { image, caption } = sampleScene(createRng(0).fork('item:0'));
 */
export * from './world.ts';
export { renderScene, backgroundPaint, objectPaint } from './render.ts';
export { captionScene, vagueCaption, parseCaption, positionPhrase, backgroundPhrase, type CaptionAttributes } from './caption.ts';
export { sampleScene, sampleConcept, randomScene, worldSampleAt, type WorldSample, type SampleOptions } from './sample.ts';
export { concepts, vagueConcepts, heldOutConcepts, type Concept } from './concepts.ts';
export { worldVocabulary, evalPromptTemplates } from './vocabulary.ts';
