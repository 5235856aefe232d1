/**
 * A result with the settings that made it: a generated image captioned with prompt, negative prompt, seed, steps,
 * guidance, sampler, size, model and embeddings, with "copy seed", "reuse settings" (app.js fills the generate form
 * from the `reuse-settings` event) and a download whose file name says what the picture is.
 */
import { baseName, el } from './dom.js';

/**
 * @typedef {object} GenerateSettings what a generation was asked, as the page sent it or the server listed it
 * @property {string} [prompt]
 * @property {string} [negativePrompt]
 * @property {number} [seed]
 * @property {number} [steps]
 * @property {number} [guidance]
 * @property {string} [sampler]
 * @property {number | null} [width]
 * @property {number | null} [height]
 * @property {number} [eta]
 * @property {string} [model]
 * @property {string[]} [embeddings]
 */

/**
 * A short, file-name-safe form of free text.
 * @example slug('a photo of a <red> star!') // 'a-photo-of-a-red-star'
 */
export const slug = (/** @type {unknown} */ text, max = 40) =>
  String(text ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '') || 'untitled';

/**
 * The download name of a generated image: prompt, seed, steps, sampler and size.
 * @param {GenerateSettings} s
 * @param {{ width: number, height: number, index?: number }} image
 * @example imageFileName({ prompt: 'a red star', seed: 7, steps: 20, sampler: 'ddim' }, { width: 64, height: 64 })
 * // 'a-red-star-seed7-20steps-ddim-64x64.png'
 */
export const imageFileName = (s, image) => {
  const parts = [
    slug(s.prompt),
    s.seed != null ? `seed${s.seed}` : '',
    s.steps != null ? `${s.steps}steps` : '',
    s.sampler ?? '',
    `${image.width}x${image.height}`,
    image.index ? `${image.index}` : '',
  ];
  return `${parts.filter(Boolean).join('-')}.png`;
};

/**
 * The settings as label/value rows, in the order people compare them.
 * @param {GenerateSettings} s
 * @param {{ width: number, height: number }} [image] the decoded size, when the request left it to the model
 * @returns {[string, string][]}
 */
export const settingsRows = (s, image) => [
  ['prompt', s.prompt ?? ''],
  ['negative prompt', s.negativePrompt || '—'],
  ['seed', String(s.seed ?? '—')],
  ['steps', String(s.steps ?? '—')],
  ['guidance', String(s.guidance ?? '—')],
  // No sampler named: the model folder's scheduler config chose it.
  ['sampler', s.sampler ?? "model's default"],
  ['size', image ? `${image.width}×${image.height}` : s.width ? `${s.width}×${s.height}` : 'model default'],
  ['model', s.model ?? '—'],
  ['embeddings', s.embeddings?.length ? s.embeddings.map(baseName).join(', ') : '—'],
];

/** A definition list of settings rows. */
export const settingsList = (/** @type {[string, string][]} */ rows) =>
  el('dl', { className: 'settings' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { title: v }, v)]));

/** Puts text on the clipboard; pages served over plain http from another host have no async clipboard. */
const copyText = async (/** @type {string} */ text) => {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el('textarea', { value: text });
    document.body.append(area);
    /** @type {HTMLTextAreaElement} */ (area).select();
    document.execCommand('copy');
    area.remove();
  }
};

/**
 * A generated image with its settings and actions.
 * @param {{ url: string, width: number, height: number, index?: number, settings: GenerateSettings, runId?: string }} r
 * @returns {HTMLElement}
 */
export const resultCard = ({ url, width, height, index = 0, settings, runId }) => {
  const copy = el('button', { type: 'button', className: 'copy-seed', textContent: 'copy seed' });
  copy.addEventListener('click', async () => {
    await copyText(String(settings.seed ?? ''));
    copy.dataset.copied = 'true';
    copy.textContent = 'seed copied';
  });
  const reuse = el('button', { type: 'button', className: 'reuse', textContent: 'reuse settings' });
  reuse.addEventListener('click', () =>
    document.dispatchEvent(new CustomEvent('reuse-settings', { detail: { ...settings } })),
  );
  const name = imageFileName(settings, { width, height, index });
  return el(
    'figure',
    { className: 'result', dataset: { index, runId: runId ?? '', seed: settings.seed ?? '' } },
    el('img', { src: url, width, height, alt: settings.prompt ?? `image ${index}`, title: settings.prompt ?? '' }),
    el(
      'figcaption',
      {},
      settingsList(settingsRows(settings, { width, height })),
      el(
        'div',
        { className: 'actions' },
        copy,
        reuse,
        el('a', { className: 'download-image', href: url, download: name, textContent: 'download' }),
      ),
    ),
  );
};
