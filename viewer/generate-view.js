/**
 * A generation as it denoises: the newest x̂₀ preview large, the raw latent's channels, a film strip with one
 * thumbnail per previewed step (scrolled to the newest), and the decoded image(s) at the end, each with the
 * settings that made it (result-card.js). Until the first preview arrives the pictures stay hidden behind a line
 * saying what the run is doing. Exposes `data-preview-steps` (the steps whose preview arrived, in arrival order)
 * and `data-images` on the run's panel.
 */
import { el } from './dom.js';
import { drawLatent, drawPreview, pngUrl } from './pictures.js';
import { resultCard } from './result-card.js';

// Long runs keep the strip readable: older thumbnails scroll off, the step list keeps them all.
const stripLength = 60;

/**
 * Builds the generation view inside `body`.
 * @param {HTMLElement} body
 * @param {import('./run-view.js').RunHandle} run the panel whose data attributes it maintains
 * @returns {import('./run-view.js').RunView}
 */
export const generateView = (body, run) => {
  const preview = el('canvas', { className: 'pixelated big', title: 'x̂₀ preview of the newest step' });
  const latent = el('canvas', { className: 'pixelated latent', title: 'the latent, one grey tile per channel' });
  const images = el('div', { className: 'images' });
  const strip = el('div', { className: 'strip' });
  const waiting = el('p', { className: 'waiting muted', textContent: 'waiting for the first denoising step…' });
  const pictures = el(
    'div',
    { className: 'pair', hidden: true },
    el('figure', {}, preview, el('figcaption', { textContent: 'x̂₀ preview' })),
    el('figure', {}, latent, el('figcaption', { textContent: 'latent channels' })),
  );
  body.append(waiting, pictures, strip, images);
  /** @type {number[]} */
  let steps = [];
  /** @type {string[]} */
  let urls = [];
  let count = 0;

  const reveal = () => {
    pictures.hidden = false;
    waiting.hidden = true;
  };

  const addThumb = async (/** @type {any} */ f) => {
    const thumb = el('canvas', {
      className: 'pixelated thumb',
      title: `step ${f.step}/${f.of}`,
      dataset: { step: f.step },
    });
    await drawPreview(/** @type {HTMLCanvasElement} */ (thumb), f);
    strip.append(thumb);
    while (strip.childElementCount > stripLength) strip.firstElementChild?.remove();
    strip.scrollLeft = strip.scrollWidth; // follow the newest step
  };

  return {
    async frame(f) {
      if (f.type === 'preview') {
        reveal();
        await drawPreview(/** @type {HTMLCanvasElement} */ (preview), f);
        await addThumb(f);
        steps.push(f.step);
        run.root.dataset.previewSteps = steps.join(',');
      } else if (f.type === 'latent') {
        reveal();
        drawLatent(/** @type {HTMLCanvasElement} */ (latent), f.tensor);
        run.root.dataset.latentStep = f.step;
      } else if (f.type === 'image') {
        const url = pngUrl(f.png);
        urls.push(url);
        waiting.hidden = true;
        images.append(
          resultCard({ url, width: f.width, height: f.height, index: f.index, settings: run.settings, runId: run.id }),
        );
        run.root.dataset.images = String(++count);
      }
    },
    reset() {
      this.dispose?.();
      steps = [];
      count = 0;
      strip.replaceChildren();
      images.replaceChildren();
      delete run.root.dataset.previewSteps;
      delete run.root.dataset.images;
    },
    dispose() {
      for (const u of urls) URL.revokeObjectURL(u);
      urls = [];
    },
  };
};
