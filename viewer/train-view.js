/**
 * A training run as it learns: loss and validation-loss curves (with an optional EMA), the learning rate and
 * norms, the newest training sample (noised x_t and the x̂₀ the UNet implies), each validation image as it
 * denoises, the validation grids — each keeping a few of its denoising steps beside the final picture — and
 * checkpoints with the run's settings and a download of the embedding. Until the first step the charts stay
 * hidden behind a line saying what the run is doing (the panel's phase). Exposes `data-loss-points`,
 * `data-validations`, `data-checkpoints` and `data-validation-preview-steps` on the run's panel.
 */
import { linkEmbedding } from './api.js';
import { stepChart } from './charts.js';
import { baseName, el, fmt, fmtBytes } from './dom.js';
import { drawPreview, pngUrl } from './pictures.js';
import { slug } from './result-card.js';
import { spread } from './spread.js';

// Denoising steps a finished validation grid keeps per image, besides its final picture.
const keptSteps = 4;

const figure = (/** @type {string} */ caption) => {
  const canvas = /** @type {HTMLCanvasElement} */ (el('canvas', { className: 'pixelated' }));
  const cap = el('figcaption', { textContent: caption });
  return { canvas, cap, node: el('figure', {}, canvas, cap) };
};

/** The training settings worth reading beside a checkpoint. */
const trainSettings = (/** @type {Record<string, any>} */ s) =>
  [
    ['token', s.token],
    ['init', s.init],
    ['steps', s.steps],
    ['lr', s.lr],
    ['vectors', s.vectors],
    ['batch', s.batch],
    ['seed', s.seed],
    ['model', s.model],
    ['images', s.images],
    ['validation prompt', s.validationPrompt],
  ]
    .filter(([, v]) => v != null && v !== '')
    .map(([k, v]) => `${k} ${v}`)
    .join(' · ');

/**
 * Builds the training view inside `body`.
 * @param {HTMLElement} body
 * @param {import('./run-view.js').RunHandle} run the panel whose data attributes it maintains
 * @returns {import('./run-view.js').RunView}
 */
export const trainView = (body, run) => {
  const waiting = el('p', { className: 'waiting muted', textContent: 'waiting for the first training step…' });
  const stats = el('p', { className: 'stats' });
  const lossBox = el('div', { className: 'chart' });
  const normBox = el('div', { className: 'chart' });
  const noised = figure('noised x_t');
  const predicted = figure('x̂₀ from the UNet');
  // The validation grid while it denoises: one row per image, a snapshot per previewed step.
  const liveRows = el('div', { className: 'live-rows' });
  const liveCap = el('figcaption', { textContent: 'validation: waiting' });
  const live = el('figure', { className: 'live' }, liveRows, liveCap);
  const grids = el('div', { className: 'validations' });
  const checkpoints = el('ul', { className: 'checkpoints' });
  const settingsLine = el('p', { className: 'train-settings muted', textContent: trainSettings(run.settings) });
  const download = /** @type {HTMLAnchorElement} */ (
    el('a', { className: 'download', textContent: 'download embedding', hidden: true, download: '' })
  );
  const charts = el('div', { className: 'charts', hidden: true }, lossBox, normBox);
  body.append(
    waiting,
    stats,
    charts,
    el('div', { className: 'pair' }, noised.node, predicted.node, live),
    el('h4', { textContent: 'validation' }),
    grids,
    el('h4', { textContent: 'checkpoints' }),
    settingsLine,
    checkpoints,
    download,
  );
  const lossChart = stepChart(lossBox, {
    title: 'loss',
    series: [
      { key: 'loss', label: 'loss', stroke: '#c0392b', smooth: 0.9 },
      { key: 'val', label: 'validation loss', stroke: '#2471a3', points: true },
    ],
  });
  const normChart = stepChart(normBox, {
    title: 'norms and learning rate',
    series: [
      { key: 'emb', label: 'embedding norm', stroke: '#1e8449' },
      { key: 'grad', label: 'gradient norm', stroke: '#b7950b' },
      { key: 'lr', label: 'lr', stroke: '#7d3c98', scale: 'lr' },
    ],
  });
  let counts = { loss: 0, validations: 0, checkpoints: 0 };
  /** @type {number[]} */
  let valSteps = [];
  let lastValStep = 0;
  let liveDone = false;
  /** @type {string[]} */
  let urls = [];
  const expose = () =>
    Object.assign(run.root.dataset, {
      lossPoints: counts.loss,
      validations: counts.validations,
      checkpoints: counts.checkpoints,
      validationPreviewSteps: valSteps.join(','),
    });
  const embeddingName = (/** @type {number} */ step) =>
    `${slug(run.settings.token ?? 'embedding')}-${(run.id ?? '').slice(0, 8)}-step${step}.safetensors`;
  let lastStep = 0;

  // Validation images stream their denoising like a generation, as x̂₀ previews; training's are noised/predicted.
  const isValidationPreview = (/** @type {any} */ f) => f.kind === 'x0';

  const onValidationPreview = async (/** @type {any} */ f) => {
    if (liveDone) liveRows.replaceChildren();
    // A step count that starts over is the next image of the same validation.
    if (liveDone || !liveRows.lastElementChild || f.step <= lastValStep)
      liveRows.append(el('div', { className: 'denoise-row' }));
    liveDone = false;
    const snapshot = /** @type {HTMLCanvasElement} */ (
      el('canvas', { className: 'pixelated snapshot', title: `step ${f.step}/${f.of}`, dataset: { step: f.step } })
    );
    await drawPreview(snapshot, f);
    liveRows.lastElementChild?.append(snapshot);
    liveCap.textContent = `validation image ${liveRows.childElementCount}: step ${f.step}/${f.of}`;
    valSteps.push(f.step);
    lastValStep = f.step;
  };

  const onValidation = (/** @type {any} */ f) => {
    liveDone = true; // the live rows stay until the next validation starts denoising
    liveCap.textContent = `validation at step ${f.step}: done`;
    if (f.loss != null) lossChart.set(f.step, { val: f.loss });
    const rows = [...liveRows.children];
    const pics = f.images.map((/** @type {any} */ img, /** @type {number} */ i) => {
      const url = pngUrl(img.png);
      urls.push(url);
      // The picture's own denoising, a few steps of it, moved out of the live view (which is cleared next time).
      const kept = spread([...(rows[i]?.children ?? [])], keptSteps);
      return el(
        'div',
        { className: 'denoised', dataset: { steps: kept.map((c) => /** @type {HTMLElement} */ (c).dataset.step) } },
        ...kept,
        el('img', {
          src: url,
          width: img.width,
          height: img.height,
          alt: img.prompt ?? `validation ${i}`,
          title: img.prompt ?? '',
        }),
      );
    });
    const caption = `step ${f.step}${f.loss != null ? ` · loss ${fmt(f.loss)}` : ''}${f.images[0]?.prompt ? ` · “${f.images[0].prompt}”` : ''}`;
    grids.prepend(
      el(
        'figure',
        { className: 'grid', dataset: { step: f.step } },
        el('div', { className: 'grid-images' }, ...pics),
        el('figcaption', { textContent: caption }),
      ),
    );
    counts.validations++;
  };

  const onCheckpoint = (/** @type {any} */ f) => {
    checkpoints.prepend(
      el(
        'li',
        { dataset: { step: f.step } },
        `step ${f.step}: ${f.files.map(baseName).join(', ')} ${fmtBytes(f.bytes)}`,
        useButton(f.files),
      ),
    );
    counts.checkpoints++;
    if (run.id) linkEmbedding(download, run.id, embeddingName(f.step));
  };

  // Offers the learned file to the generate form (app.js listens), so a trained word can be tried at once.
  const useButton = (/** @type {string[]} */ files) => {
    const file = files.find((p) => p.endsWith('.safetensors') && !/state/.test(baseName(p))) ?? files[0] ?? '';
    const b = el('button', { type: 'button', className: 'use', textContent: 'use in generate' });
    b.addEventListener('click', () =>
      document.dispatchEvent(new CustomEvent('use-embedding', { detail: { path: file } })),
    );
    return b;
  };

  return {
    async frame(f) {
      if (f.type === 'progress') {
        if (f.phase === 'load') waiting.textContent = 'loading the model and encoding the images…';
      } else if (f.type === 'loss') {
        charts.hidden = false;
        waiting.hidden = true;
        lastStep = f.step;
        lossChart.set(f.step, { loss: f.loss });
        normChart.set(f.step, { emb: f.embeddingNorm, grad: f.gradNorm, lr: f.lr });
        stats.textContent = `step ${f.step} · loss ${fmt(f.loss)} · lr ${fmt(f.lr)} · ‖∇‖ ${fmt(f.gradNorm)} · ‖v‖ ${fmt(f.embeddingNorm)}`;
        counts.loss++;
      } else if (f.type === 'preview') {
        if (isValidationPreview(f)) await onValidationPreview(f);
        else {
          await drawPreview(f.kind === 'noised' ? noised.canvas : predicted.canvas, f);
          (f.kind === 'noised' ? noised : predicted).cap.textContent =
            `${f.kind === 'noised' ? 'noised x_t' : 'x̂₀ from the UNet'} · step ${f.step}`;
        }
      } else if (f.type === 'validation') onValidation(f);
      else if (f.type === 'checkpoint') onCheckpoint(f);
      else if (f.type === 'done' && run.id) linkEmbedding(download, run.id, embeddingName(lastStep));
      expose();
    },
    reset() {
      this.dispose?.();
      counts = { loss: 0, validations: 0, checkpoints: 0 };
      valSteps = [];
      lastValStep = 0;
      liveDone = false;
      liveRows.replaceChildren();
      lossChart.reset();
      normChart.reset();
      grids.replaceChildren();
      checkpoints.replaceChildren();
      expose();
    },
    dispose() {
      for (const u of urls) URL.revokeObjectURL(u);
      urls = [];
    },
  };
};
