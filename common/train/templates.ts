/**
 * Prompt templates of the reference implementations (the official repository and diffusers' textual_inversion.py
 * use these object and style lists), with `{}` standing for the placeholder token.
 */
export const objectTemplates = [
  'a photo of a {}',
  'a rendering of a {}',
  'a cropped photo of the {}',
  'the photo of a {}',
  'a photo of a clean {}',
  'a photo of a dirty {}',
  'a dark photo of the {}',
  'a photo of my {}',
  'a photo of the cool {}',
  'a close-up photo of a {}',
  'a bright photo of the {}',
  'a cropped photo of a {}',
  'a photo of the {}',
  'a good photo of the {}',
  'a photo of one {}',
  'a close-up photo of the {}',
  'a rendition of the {}',
  'a photo of the clean {}',
  'a rendition of a {}',
  'a photo of a nice {}',
  'a good photo of a {}',
  'a photo of the nice {}',
  'a photo of the small {}',
  'a photo of the weird {}',
  'a photo of the large {}',
  'a photo of a cool {}',
  'a photo of a small {}',
] as const;

export const styleTemplates = [
  'a painting in the style of {}',
  'a rendering in the style of {}',
  'a cropped painting in the style of {}',
  'the painting in the style of {}',
  'a clean painting in the style of {}',
  'a dirty painting in the style of {}',
  'a dark painting in the style of {}',
  'a picture in the style of {}',
  'a cool painting in the style of {}',
  'a close-up painting in the style of {}',
  'a bright painting in the style of {}',
  'a cropped painting in the style of {}',
  'a good painting in the style of {}',
  'a close-up painting in the style of {}',
  'a rendition in the style of {}',
  'a nice painting in the style of {}',
  'a small painting in the style of {}',
  'a weird painting in the style of {}',
  'a large painting in the style of {}',
] as const;

/** Fills a template or caption with the placeholder; a caption without `{}` gets the placeholder prepended. */
export const fillTemplate = (template: string, token: string): string =>
  template.includes('{}') ? template.replaceAll('{}', token) : `${token} ${template}`;

/**
 * A caption for the mirrored image: 'left' and 'right' swapped as whole words. Training flips half the images
 * (the reference implementations' augmentation); a caption that still said "on the right" of a flipped image would
 * teach the word to override position words, the very edits it should obey.
 *
 * @example
 * mirrorCaption('a small {} on the right'); // 'a small {} on the left'
 */
export const mirrorCaption = (caption: string): string =>
  caption.replace(/\b(left|right)\b/gi, (w) => {
    const to = w.toLowerCase() === 'left' ? 'right' : 'left';
    return w[0] === w[0].toUpperCase() ? to[0].toUpperCase() + to.slice(1) : to;
  });
