/**
 * What `train` found before its first step, said in one line, and the warning for too few images: a user sees at
 * once whether the captions were picked up, whether images are mirrored, and where a resumed run starts.
 */
import type { ImageFile } from '../../stages/encode-training-images.ts';

export interface TrainingData {
  images: readonly ImageFile[];
  /** Whether captions are used as prompts (`--captions`). */
  captions: boolean;
  flipProbability: number;
  /** The step the run starts at: 0, or the resumed checkpoint's. */
  startStep: number;
  steps: number;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * @example describeTrainingData({ images: five, captions: true, flipProbability: 0.5, startStep: 10, steps: 40 })
 * // "5 images, 5 with captions (used as prompts); each mirrored with probability 0.5 ('left'/'right' swapped in 2 captions); resuming from step 10 of 40"
 */
export const describeTrainingData = (d: TrainingData): string => {
  const captioned = d.images.filter((i) => i.caption !== undefined);
  const parts = [plural(d.images.length, 'image')];
  if (captioned.length)
    parts.push(
      d.captions
        ? `${captioned.length} with captions (used as prompts${captioned.length < d.images.length ? '; the others use templates' : ''})`
        : `${plural(captioned.length, 'caption')} not used (--captions uses them)`,
    );
  else if (d.captions) parts.push('no captions found (name.txt beside name.png): templates are used');
  const sided = d.captions ? captioned.filter((i) => /\b(left|right)\b/i.test(i.caption!)).length : 0;
  const flips =
    d.flipProbability > 0
      ? `each mirrored with probability ${d.flipProbability}${sided ? ` ('left'/'right' swapped in ${plural(sided, 'caption')})` : ''}`
      : 'not mirrored';
  const start = d.startStep > 0 ? `resuming from step ${d.startStep} of ${d.steps}` : plural(d.steps, 'step');
  return `${parts.join(', ')}; ${flips}; ${start}`;
};

/** The textual-inversion paper trains on 3–5 images; with fewer the word tends to copy them, not the concept. */
export const recommendedImages = 3;

/**
 * A warning when there are fewer images than recommended, else undefined.
 * @example fewImagesWarning(2) // 'warning: 2 images; textual inversion wants 3–5 …'
 */
export const fewImagesWarning = (n: number): string | undefined =>
  n < recommendedImages
    ? `warning: ${plural(n, 'image')}; textual inversion wants 3–5 (the paper's), and with fewer the word tends to reproduce these pictures rather than learn the concept`
    : undefined;
