/**
 * A training run as it learns: loss and validation-loss curves, the learning rate and norms, the newest
 * training sample (noised x_t and the x̂₀ the UNet implies), each validation image as it denoises, the
 * validation grids, and checkpoints with a download of the embedding. Exposes `data-loss-points`,
 * `data-validations`, `data-checkpoints` and `data-validation-preview-steps` on the run's panel.
 */
import { linkEmbedding } from './api.js';
import { stepChart } from './charts.js';
import { baseName, el, fmt, fmtBytes } from './dom.js';
import { drawPreview, pngUrl } from './pictures.js';

const figure = (caption) => {
  const canvas = el('canvas', { className: 'pixelated' });
  const cap = el('figcaption', { textContent: caption });
  return { canvas, cap, node: el('figure', {}, canvas, cap) };
};

/** Builds the training view inside `body`; `run.root` is the panel whose data attributes it maintains. */
export const trainView = (body, run) => {
  const stats = el('p', { className: 'stats' });
  const lossBox = el('div', { className: 'chart' });
  const normBox = el('div', { className: 'chart' });
  const noised = figure('noised x_t');
  const predicted = figure('x̂₀ from the UNet');
  // The validation grid while it denoises: one cell per image, a new one when the step count starts over.
  const liveCells = el('div', { className: 'grid-images live' });
  const liveCap = el('figcaption', { textContent: 'validation: waiting' });
  const live = el('figure', {}, liveCells, liveCap);
  const grids = el('div', { className: 'validations' });
  const checkpoints = el('ul', { className: 'checkpoints' });
  const download = el('a', { className: 'download', textContent: 'download embedding', hidden: true, download: '' });
  body.append(
    stats,
    lossBox,
    normBox,
    el('div', { className: 'pair' }, noised.node, predicted.node, live),
    el('h4', { textContent: 'validation' }),
    grids,
    el('h4', { textContent: 'checkpoints' }),
    checkpoints,
    download,
  );
  const lossChart = stepChart(lossBox, {
    title: 'loss',
    series: [
      { key: 'loss', label: 'loss', stroke: '#c0392b' },
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
  let valSteps = [];
  let lastValStep = 0;
  let liveDone = false;
  let urls = [];
  const expose = () =>
    Object.assign(run.root.dataset, {
      lossPoints: counts.loss,
      validations: counts.validations,
      checkpoints: counts.checkpoints,
      validationPreviewSteps: valSteps.join(','),
    });

  // Validation images stream their denoising like a generation, as x̂₀ previews.
  // Training previews are 'noised' and 'predicted'; 'x0' previews come only from validation's denoising.
  const isValidationPreview = (f) => f.kind === 'x0';

  const onValidation = (f) => {
    liveDone = true; // the live cells stay until the next validation starts denoising
    liveCap.textContent = `validation at step ${f.step}: done`;
    if (f.loss != null) lossChart.set(f.step, { val: f.loss });
    const pics = f.images.map((img, i) => {
      const url = pngUrl(img.png);
      urls.push(url);
      return el('img', {
        src: url,
        width: img.width,
        height: img.height,
        alt: img.prompt ?? `validation ${i}`,
        title: img.prompt ?? '',
      });
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

  const onCheckpoint = (f) => {
    checkpoints.prepend(
      el(
        'li',
        { dataset: { step: f.step } },
        `step ${f.step}: ${f.files.map(baseName).join(', ')} ${fmtBytes(f.bytes)}`,
        useButton(f.files),
      ),
    );
    counts.checkpoints++;
    if (run.id) linkEmbedding(download, run.id);
  };

  // Offers the learned file to the generate form (app.js listens), so a trained word can be tried at once.
  const useButton = (files) => {
    const file = files.find((p) => p.endsWith('.safetensors') && !/state/.test(baseName(p))) ?? files[0];
    const b = el('button', { type: 'button', className: 'use', textContent: 'use in generate' });
    b.addEventListener('click', () =>
      document.dispatchEvent(new CustomEvent('use-embedding', { detail: { path: file } })),
    );
    return b;
  };

  return {
    async frame(f) {
      if (f.type === 'progress') {
        if (f.phase === 'validate')
          liveCap.textContent = `validation image ${liveCells.childElementCount || 1}: step ${f.step}/${f.of}`;
      } else if (f.type === 'loss') {
        lossChart.set(f.step, { loss: f.loss });
        normChart.set(f.step, { emb: f.embeddingNorm, grad: f.gradNorm, lr: f.lr });
        stats.textContent = `step ${f.step} · loss ${fmt(f.loss)} · lr ${fmt(f.lr)} · ‖∇‖ ${fmt(f.gradNorm)} · ‖v‖ ${fmt(f.embeddingNorm)}`;
        counts.loss++;
      } else if (f.type === 'preview') {
        if (isValidationPreview(f)) {
          if (liveDone) liveCells.replaceChildren();
          if (liveDone || !liveCells.lastElementChild || f.step <= lastValStep)
            liveCells.append(el('canvas', { className: 'pixelated' }));
          liveDone = false;
          await drawPreview(liveCells.lastElementChild, f);
          valSteps.push(f.step);
          lastValStep = f.step;
        } else {
          await drawPreview(f.kind === 'noised' ? noised.canvas : predicted.canvas, f);
          (f.kind === 'noised' ? noised : predicted).cap.textContent =
            `${f.kind === 'noised' ? 'noised x_t' : 'x̂₀ from the UNet'} · step ${f.step}`;
        }
      } else if (f.type === 'validation') onValidation(f);
      else if (f.type === 'checkpoint') onCheckpoint(f);
      else if (f.type === 'done' && run.id) linkEmbedding(download, run.id);
      expose();
    },
    reset() {
      this.dispose();
      counts = { loss: 0, validations: 0, checkpoints: 0 };
      valSteps = [];
      lastValStep = 0;
      liveDone = false;
      liveCells.replaceChildren();
      lossChart.reset();
      normChart.reset();
      grids.replaceChildren();
      checkpoints.replaceChildren();
      expose();
    },
    dispose() {
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = [];
    },
  };
};
