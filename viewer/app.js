/**
 * The page's entry: wires the forms, the stage pickers (from `GET /v1/stages`), the server's folders and defaults
 * (`GET /v1/settings`), the server's run list, the run panels and the history of results. Each run gets its own
 * panel and its own stream, so several can be watched side by side.
 */
import { attachRun, health, settings as serverSettings, stages, startGenerate, startTrain } from './api.js';
import { dropZone, fillForm, generateRequest, trainRequest } from './forms.js';
import { gallery } from './gallery.js';
import { generateView } from './generate-view.js';
import { openRun } from './run-view.js';
import { runsTable } from './runs-table.js';
import { stagePicker } from './stage-picker.js';
import { trainView } from './train-view.js';

/** @template {Element} T @param {string} selector @returns {T} */
const $ = (selector) => /** @type {T} */ (document.querySelector(selector));
/** @type {HTMLElement} */
const runsEl = $('#runs');
/** @type {HTMLFormElement} */
const generateForm = $('#generate-form');
/** @type {HTMLFormElement} */
const trainForm = $('#train-form');
const views = { generate: generateView, train: trainView };
const short = (/** @type {string} */ s, n = 40) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const isOpen = (/** @type {string} */ id) =>
  [...runsEl.querySelectorAll('.run')].some((p) => /** @type {HTMLElement} */ (p).dataset.runId === id);

/** Opens a panel that re-attaches to a run the server already has (after a reload, or from the run list). */
const watch = (/** @type {any} */ r) => {
  if (isOpen(r.id)) return;
  // Pretraining streams the frames of a training run (loss per step, samples at the end).
  const kind = r.kind === 'generate' ? 'generate' : 'train';
  openRun(runsEl, {
    kind,
    title: String(r.meta?.token ?? r.meta?.prompt ?? `${r.kind} run`),
    runId: r.id,
    steps: r.of ?? r.meta?.steps,
    startedAt: Date.parse(r.createdAt) || undefined,
    settings: r.meta ?? {},
    start: (signal) => attachRun(r.id, signal),
    makeView: views[kind],
  });
};

const showHealth = async () => {
  /** @type {HTMLElement} */
  const el = $('#health');
  try {
    const h = await health();
    el.dataset.state = 'ok';
    el.textContent = `server ${h.version ?? ''} ok`;
  } catch (e) {
    el.dataset.state = 'down';
    el.textContent = `server unreachable: ${/** @type {Error} */ (e).message}`;
  }
};

/** @type {any} the server's folders and defaults; empty until (or unless) it answers */
let server = { roots: {}, defaults: { generate: {}, train: {}, pipelines: {} } };

/** Shows the server's default of every field as its placeholder: what an emptied field will mean. */
const showDefaults = (/** @type {HTMLFormElement} */ form, /** @type {Record<string, unknown>} */ defaults) => {
  for (const input of form.querySelectorAll('input[name], textarea[name]')) {
    const field = /** @type {HTMLInputElement} */ (input);
    if (!(field.name in defaults) || field.closest('.stages')) continue;
    const v = defaults[field.name];
    const text = v == null ? "model's" : Array.isArray(v) ? v.join(', ') || 'none' : String(v) || 'none';
    field.placeholder = `default: ${text}`;
    field.title = `left empty, the server uses ${text}`;
  }
};

const loadSettings = async () => {
  /** @type {HTMLElement} */
  const roots = $('#images-roots');
  try {
    server = await serverSettings();
    const images = server.roots?.images ?? [];
    roots.textContent = images.length
      ? `allowed folders: ${images.join(', ')}`
      : 'this server reads no image folders: drop or choose files instead';
    roots.dataset.roots = images.join('\n');
    showDefaults(generateForm, server.defaults.generate);
    showDefaults(trainForm, server.defaults.train);
  } catch (e) {
    roots.textContent = `allowed folders unknown: ${/** @type {Error} */ (e).message}`;
  }
};

// Pickers are built from whatever the server registers; until then (or on a server without /v1/stages) they
// send nothing and the server's defaults apply.
/** @type {() => any} */
let pickGenerate = () => undefined;
/** @type {() => any} */
let pickTrain = () => undefined;
const loadStages = async () => {
  try {
    const s = await stages();
    const d = server.defaults?.pipelines ?? {};
    pickGenerate = stagePicker($('[data-stages=generate]'), s.generate, d.generate);
    pickTrain = stagePicker($('[data-stages=train]'), s.train, d.train);
  } catch (e) {
    for (const f of document.querySelectorAll('.stages')) {
      const p = f.querySelector('p');
      if (p) p.textContent = `stages unavailable: ${/** @type {Error} */ (e).message}`;
    }
  }
  document.body.dataset.stages = 'loaded';
};

const files = dropZone($('#drop-zone'), $('#image-files'), $('#dropped-files'));

generateForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const pipeline = pickGenerate();
  const request = generateRequest(generateForm, pipeline);
  const sampler = pipeline?.sampler?.use ?? server.defaults?.pipelines?.generate?.sampler?.use;
  openRun(runsEl, {
    kind: 'generate',
    title: short(request.prompt ?? ''),
    settings: { ...server.defaults.generate, ...request, sampler },
    reveal: true,
    start: (signal) => startGenerate(request, signal),
    makeView: generateView,
  });
});

trainForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const uploads = files();
  const request = trainRequest(trainForm, pickTrain(), uploads.length > 0);
  const images = uploads.length ? `${uploads.length} uploaded files` : request.images;
  openRun(runsEl, {
    kind: 'train',
    title: `${request.token ?? ''} ← ${request.init ?? ''}`,
    steps: request.steps ?? server.defaults.train.steps,
    settings: { ...server.defaults.train, ...request, images },
    reveal: true,
    start: (signal) => startTrain(request, uploads, signal),
    makeView: trainView,
  });
});

// A checkpoint's "use in generate" button: add its file to the generate form's embeddings.
document.addEventListener('use-embedding', (e) => {
  const box = /** @type {HTMLTextAreaElement} */ ($('#generate-form [name=embeddings]'));
  const lines = new Set(
    box.value
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  lines.add(/** @type {CustomEvent} */ (e).detail.path);
  box.value = [...lines].join('\n');
});

// A result's "reuse settings": its settings into the generate form, its sampler into the sampler picker.
document.addEventListener('reuse-settings', (e) => {
  const s = /** @type {CustomEvent} */ (e).detail;
  fillForm(generateForm, s);
  /** @type {HTMLSelectElement | null} */
  const sampler = document.querySelector('[data-stages=generate] [data-stage=sampler] select');
  if (sampler && s.sampler) {
    // The server's default sampler is picked as "server default", so the request stays as it was.
    const isDefault = s.sampler === server.defaults?.pipelines?.generate?.sampler?.use;
    sampler.value = isDefault ? '' : s.sampler;
    sampler.dispatchEvent(new Event('change'));
  }
  const details = generateForm.closest('details');
  if (details) details.open = true;
  generateForm.scrollIntoView({ block: 'start' });
  generateForm.dataset.reused = s.seed ?? '';
});

await Promise.all([showHealth(), loadSettings()]);
await loadStages();
const table = runsTable($('#server-runs tbody'), { isOpen, watch });
const history = gallery($('#gallery'), $('#clear-history'));
history.refresh();
runsEl.addEventListener('run-status', (e) => {
  table.refresh();
  if (/** @type {CustomEvent} */ (e).detail.status === 'done') history.refresh();
});
document.body.dataset.ready = 'true';
