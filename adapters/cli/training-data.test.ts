import { describe, expect, test } from 'bun:test';
import { describeTrainingData, fewImagesWarning } from './training-data.ts';

const image = (name: string, caption?: string) => ({
  name,
  bytes: new Uint8Array(),
  ...(caption !== undefined ? { caption } : {}),
});
const five = [
  image('1.png', 'a {} on the left'),
  image('2.png', 'a {} at the top'),
  image('3.png', 'a large {} on the right'),
  image('4.png'),
  image('5.png'),
];

describe('what train says it found', () => {
  test('counts images and captions, says which captions swap sides when mirrored, and where a resume starts', () => {
    expect(describeTrainingData({ images: five, captions: true, flipProbability: 0.5, startStep: 10, steps: 40 })).toBe(
      "5 images, 3 with captions (used as prompts; the others use templates); each mirrored with probability 0.5 ('left'/'right' swapped in 2 captions); resuming from step 10 of 40",
    );
  });

  test('says when captions are there but not used, or asked for but missing, and when nothing is mirrored', () => {
    expect(describeTrainingData({ images: five, captions: false, flipProbability: 0, startStep: 0, steps: 1 })).toBe(
      '5 images, 3 captions not used (--captions uses them); not mirrored; 1 step',
    );
    const bare = [image('a.png')];
    expect(
      describeTrainingData({ images: bare, captions: true, flipProbability: 0.5, startStep: 0, steps: 3000 }),
    ).toBe(
      '1 image, no captions found (name.txt beside name.png): templates are used; each mirrored with probability 0.5; 3000 steps',
    );
  });

  test('warns below the 3 images the paper recommends, and only then', () => {
    expect(fewImagesWarning(2)).toStartWith('warning: 2 images; textual inversion wants 3–5');
    expect(fewImagesWarning(3)).toBeUndefined();
  });
});
