/**
 * The procedural world: scenes, their images and captions, the concepts for inversion, the vocabulary, the example
 * folders and the recogniser. The evaluation protocol (`eval.ts`, which pulls in training and generation) is
 * imported from its own file.
 *
 * @example
 * import { createRng } from '../../common/numerics/rng.ts';
 * import { sampleScene } from './index.ts';
 * const { image, caption } = sampleScene(createRng(0).fork('item:0'));
 */
export * from './world.ts';
export { renderScene, backgroundPaint, objectPaint } from './render.ts';
export {
  captionScene,
  vagueCaption,
  parseCaption,
  positionPhrase,
  backgroundPhrase,
  type CaptionAttributes,
} from './caption.ts';
export {
  sampleScene,
  sampleConcept,
  randomScene,
  worldSampleAt,
  type WorldSample,
  type SampleOptions,
} from './sample.ts';
export { concepts, vagueConcepts, heldOutConcepts, type Concept } from './concepts.ts';
export { worldVocabulary, evalPromptTemplates } from './vocabulary.ts';
export { writeConceptExamples } from './examples.ts';
export { buildRecogniser, recogniserHeads, featureWidth, type RecogniserHead } from './recogniser.ts';
export { recognise, recogniserAccuracy, cosine, type Recognition } from './recognise.ts';
