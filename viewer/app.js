/**
 * The page's entry: wires the forms, the stage pickers (from `GET /v1/stages`), the server's run list and the
 * run panels. Each run gets its own panel and its own stream, so several can be watched side by side.
 */
import { attachRun, health, stages, startGenerate, startTrain } from './api.js';
import { dropZone, generateRequest, trainRequest } from './forms.js';
import { generateView } from './generate-view.js';
import { openRun } from './run-view.js';
import { runsTable } from './runs-table.js';
import { stagePicker } from './stage-picker.js';
import { trainView } from './train-view.js';

const $ = (selector) => document.querySelector(selector);
const runsEl = $('#runs');
const views = { generate: generateView, train: trainView };
const short = (s, n = 40) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const isOpen = (id) => [...runsEl.querySelectorAll('.run')].some((p) => p.dataset.runId === id);

/** Opens a panel that re-attaches to a run the server already has (after a reload, or from the run list). */
const watch = (r) =>
  isOpen(r.id) ||
  openRun(runsEl, {
    // Pretraining streams the frames of a training run (loss per step, samples at the end).
    kind: r.kind === 'generate' ? 'generate' : 'train',
    title: String(r.meta?.token ?? r.meta?.prompt ?? `${r.kind} run`),
    runId: r.id,
    steps: r.meta?.steps,
    start: (signal) => attachRun(r.id, signal),
    makeView: views[r.kind === 'generate' ? 'generate' : 'train'],
  });

const showHealth = async () => {
  const el = $('#health');
  try {
    const h = await health();
    Object.assign(el.dataset, { state: 'ok' });
    el.textContent = `server ${h.version ?? ''} ok`;
  } catch (e) {
    el.dataset.state = 'down';
    el.textContent = `server unreachable: ${e.message}`;
  }
};

// Pickers are built from whatever the server registers; until then (or on a server without /v1/stages) they
// send nothing and the server's defaults apply.
let pickGenerate = () => undefined;
let pickTrain = () => undefined;
const loadStages = async () => {
  try {
    const s = await stages();
    pickGenerate = stagePicker($('[data-stages=generate]'), s.generate);
    pickTrain = stagePicker($('[data-stages=train]'), s.train);
  } catch (e) {
    for (const f of document.querySelectorAll('.stages'))
      f.querySelector('p').textContent = `stages unavailable: ${e.message}`;
  }
  document.body.dataset.stages = 'loaded';
};

const files = dropZone($('#drop-zone'), $('#image-files'), $('#dropped-files'));

$('#generate-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const request = generateRequest(e.target, pickGenerate());
  openRun(runsEl, {
    kind: 'generate',
    title: short(request.prompt ?? ''),
    start: (signal) => startGenerate(request, signal),
    makeView: generateView,
  });
});

$('#train-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const uploads = files();
  const request = trainRequest(e.target, pickTrain(), uploads.length > 0);
  openRun(runsEl, {
    kind: 'train',
    title: `${request.token ?? ''} ← ${request.init ?? ''}`,
    start: (signal) => startTrain(request, uploads, signal),
    makeView: trainView,
  });
});

// A checkpoint's "use in generate" button: add its file to the generate form's embeddings.
document.addEventListener('use-embedding', (e) => {
  const box = $('#generate-form [name=embeddings]');
  const lines = new Set(
    box.value
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  lines.add(e.detail.path);
  box.value = [...lines].join('\n');
});

await Promise.all([showHealth(), loadStages()]);
const table = runsTable($('#server-runs tbody'), { isOpen, watch });
runsEl.addEventListener('run-status', () => table.refresh());
document.body.dataset.ready = 'true';
