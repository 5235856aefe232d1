/**
 * A generation as it denoises: the newest x̂₀ preview large, the raw latent's channels, a film strip with one
 * thumbnail per previewed step, and the decoded image(s) at the end. Exposes `data-preview-steps` (the steps
 * whose preview arrived, in arrival order) and `data-images` on the run's panel.
 */
import { drawLatent, drawPreview, pngUrl } from './pictures.js';
import { el } from './dom.js';

// Long runs keep the strip readable: older thumbnails scroll off, the step list keeps them all.
const stripLength = 60;

/** Builds the generation view inside `body`; `run.root` is the panel whose data attributes it maintains. */
export const generateView = (body, run) => {
  const preview = el('canvas', { className: 'pixelated big', title: 'x̂₀ preview of the newest step' });
  const latent = el('canvas', { className: 'pixelated latent', title: 'the latent, one grey tile per channel' });
  const images = el('div', { className: 'images' });
  const strip = el('div', { className: 'strip' });
  body.append(
    el(
      'div',
      { className: 'pair' },
      el('figure', {}, preview, el('figcaption', { textContent: 'x̂₀ preview' })),
      el('figure', {}, latent, el('figcaption', { textContent: 'latent channels' })),
      images,
    ),
    strip,
  );
  let steps = [];
  let urls = [];
  let count = 0;

  const addThumb = async (f) => {
    const thumb = el('canvas', {
      className: 'pixelated thumb',
      title: `step ${f.step}/${f.of}`,
      dataset: { step: f.step },
    });
    await drawPreview(thumb, f);
    strip.append(thumb);
    while (strip.childElementCount > stripLength) strip.firstElementChild.remove();
  };

  return {
    async frame(f) {
      if (f.type === 'preview') {
        await drawPreview(preview, f);
        await addThumb(f);
        steps.push(f.step);
        run.root.dataset.previewSteps = steps.join(',');
      } else if (f.type === 'latent') {
        drawLatent(latent, f.tensor);
        run.root.dataset.latentStep = f.step;
      } else if (f.type === 'image') {
        const url = pngUrl(f.png);
        urls.push(url);
        images.append(
          el(
            'figure',
            { className: 'final', dataset: { index: f.index } },
            el('img', { src: url, width: f.width, height: f.height, alt: `image ${f.index}` }),
            el(
              'figcaption',
              {},
              el('a', { href: url, download: `${run.id ?? 'image'}-${f.index}.png`, textContent: 'download' }),
            ),
          ),
        );
        run.root.dataset.images = ++count;
      }
    },
    reset() {
      this.dispose();
      steps = [];
      count = 0;
      strip.replaceChildren();
      images.replaceChildren();
      delete run.root.dataset.previewSteps;
      delete run.root.dataset.images;
    },
    dispose() {
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = [];
    },
  };
};
