/**
 * One run on the page: a panel with its own frame stream. The shell handles what every run has — status, the
 * phase in words, the step counter with its share done, elapsed time, time left and speed (progress.js), cancel,
 * reconnect — and hands every frame to the kind's view (generate-view.js, train-view.js). When a stream ends before
 * the run did (a dropped connection, a reload), the panel re-attaches with `GET /v1/runs/:id/frames`, which replays
 * the run's records and latest previews, so the view is reset first.
 *
 * One panel per run: a panel that learns its run's id closes any other panel already showing that run.
 *
 * State the page exposes for tests and tools lives in data attributes: `data-run-id`, `data-kind`,
 * `data-status` (starting|running|done|error|cancelled|lost), `data-step`, `data-of`, `data-percent`, `data-phase`.
 */
import { attachRun, cancelRun, ensureOk } from './api.js';
import { el, fmt } from './dom.js';
import { framesOf } from './frames.js';
import { counterText, duration, progressTracker } from './progress.js';

const terminal = new Set(['done', 'error', 'cancelled']);
const reconnectTries = 5;
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @typedef {object} RunHandle what a view may read and maintain
 * @property {string | undefined} id the server's run id, once known
 * @property {number | undefined} steps the run's total, when the caller knew it
 * @property {HTMLElement} root the panel; views keep their data attributes on it
 * @property {boolean} cancelled whether Cancel was pressed
 * @property {Record<string, unknown>} settings what the run was asked (for captions, file names, "reuse")
 */
/**
 * @typedef {object} RunView
 * @property {(frame: any) => Promise<void> | void} frame
 * @property {() => void} reset
 * @property {() => void} [dispose]
 */
/**
 * @typedef {object} OpenRunOptions
 * @property {'generate' | 'train'} kind
 * @property {string} title
 * @property {(signal: AbortSignal) => Promise<Response>} start the run's streaming response (a POST or an attach)
 * @property {(body: HTMLElement, run: RunHandle) => RunView} makeView
 * @property {string} [runId] when attaching to a run the server listed
 * @property {number} [steps] the run's total, when known
 * @property {number} [startedAt] when the run began (ms since the epoch); default now
 * @property {Record<string, unknown>} [settings]
 * @property {boolean} [reveal] scroll the new panel into view (a run the user just started)
 */

/**
 * Opens a panel in `container` and starts following a run.
 * @param {HTMLElement} container
 * @param {OpenRunOptions} options
 * @returns {RunHandle}
 * @example openRun(runsEl, { kind: 'generate', title: 'a red star', start: (s) => startGenerate(req, s), makeView:
 * generateView })
 */
export const openRun = (container, { kind, title, start, makeView, runId, steps, startedAt, settings, reveal }) => {
  const controller = new AbortController();
  const status = el('span', { className: 'status' }, 'starting');
  const phase = el('span', { className: 'phase' });
  const bar = /** @type {HTMLProgressElement} */ (el('progress', { className: 'bar', max: 100 }));
  const counter = el('span', { className: 'counter' });
  const percent = el('span', { className: 'percent' });
  const elapsed = el('span', { className: 'elapsed', title: 'elapsed' });
  const eta = el('span', { className: 'eta', title: 'time left at the current speed' });
  const speed = el('span', { className: 'speed', title: 'steps per second, model loading not counted' });
  const message = el('p', { className: 'message' });
  const cancel = /** @type {HTMLButtonElement} */ (
    el('button', { type: 'button', className: 'cancel', textContent: 'Cancel' })
  );
  const close = el('button', {
    type: 'button',
    className: 'close',
    textContent: '×',
    title: 'close this panel (a training run goes on)',
  });
  const body = el('div', { className: 'run-body' });
  const idEl = el('code', { className: 'run-id' });
  const root = el(
    'article',
    { className: 'run', dataset: { kind, status: 'starting' } },
    el('header', {}, el('strong', { className: 'title', textContent: title }), idEl, status, cancel, close),
    el('div', { className: 'progress-line' }, phase, bar, counter, percent, elapsed, eta, speed),
    message,
    body,
  );
  container.prepend(root);
  if (reveal) root.scrollIntoView({ block: 'start' });

  /** @type {RunHandle} */
  const run = { id: undefined, steps, root, cancelled: false, settings: settings ?? {} };
  const view = makeView(body, run);
  const progress = progressTracker(kind, steps);
  const began = startedAt ?? Date.now();
  /** @type {number | undefined} */
  let ended;

  const show = () => {
    const r = progress.read();
    Object.assign(root.dataset, { phase: r.phase, step: r.step, of: r.of ?? '', percent: r.percent ?? '' });
    phase.textContent = r.text;
    counter.textContent = counterText(kind, r);
    if (r.percent != null) bar.value = r.percent;
    else bar.removeAttribute('value'); // an indeterminate bar while loading
    percent.textContent = r.percent != null ? `${Math.floor(r.percent)} %` : '';
    elapsed.textContent = `elapsed ${duration(((ended ?? Date.now()) - began) / 1000)}`;
    eta.textContent = r.etaS != null && !ended ? `left ${duration(r.etaS)}` : '';
    if (r.rate) speed.textContent = `${fmt(r.rate, 3)} it/s`;
  };
  const timer = setInterval(show, 1000);

  const setStatus = (/** @type {string} */ s, text = s) => {
    const changed = root.dataset.status !== s;
    root.dataset.status = s;
    status.textContent = text;
    cancel.disabled = terminal.has(s) || s === 'lost';
    if (terminal.has(s) || s === 'lost') {
      ended ??= Date.now();
      clearInterval(timer);
      show();
    }
    // app.js refreshes the server's run list when a run starts or ends, instead of waiting for its next poll.
    if (changed)
      root.dispatchEvent(new CustomEvent('run-status', { bubbles: true, detail: { id: run.id, status: s } }));
  };
  const setId = (/** @type {string | undefined} */ id) => {
    if (!id || run.id === id) return;
    run.id = id;
    root.dataset.runId = id;
    idEl.textContent = id.slice(0, 8);
    idEl.title = id;
    for (const other of container.querySelectorAll('.run'))
      if (other !== root && /** @type {HTMLElement} */ (other).dataset.runId === id)
        other.dispatchEvent(new Event('close-panel'));
    // Cancel was pressed before the server named the run: now it can be stopped where it runs.
    if (run.cancelled) requestCancel();
  };
  setId(runId);

  const onFrame = async (/** @type {any} */ f) => {
    setId(f.runId);
    if (root.dataset.status === 'starting') setStatus('running');
    progress.frame(f);
    if (f.type === 'done') setStatus('done');
    else if (f.type === 'error') {
      setStatus(f.code === 'cancelled' ? 'cancelled' : 'error');
      message.textContent = `${f.code}: ${f.message}`;
    }
    show();
    await view.frame(f);
  };

  const follow = async (/** @type {Response} */ response) => {
    await ensureOk(response);
    setId(response.headers.get('x-run-id') ?? undefined);
    if (!terminal.has(root.dataset.status ?? '')) setStatus('running', run.cancelled ? 'cancelling…' : 'running');
    for await (const f of framesOf(response)) await onFrame(f);
  };

  const fail = (/** @type {any} */ e) => {
    if (controller.signal.aborted) return;
    setStatus('error');
    message.textContent = e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
  };

  // The first stream, then re-attaches while the run is neither finished nor given up on.
  (async () => {
    try {
      await follow(await start(controller.signal));
    } catch (e) {
      if (!run.id || /** @type {any} */ (e)?.status) return fail(e); // refused outright: nothing to re-attach to
    }
    for (let tries = 1; !terminal.has(root.dataset.status ?? '') && !controller.signal.aborted; tries++) {
      if (!run.id || tries > reconnectTries) return setStatus('lost', 'connection lost');
      setStatus('running', `reconnecting (${tries})`);
      await sleep(500 * tries);
      try {
        const res = await attachRun(run.id, controller.signal);
        if (res.status === 404) return setStatus('lost', 'run gone from server');
        view.reset(); // the replay starts again from the run's first record
        progress.restart();
        await follow(res);
      } catch (e) {
        const code = /** @type {any} */ (e)?.status;
        if (code && code !== 503) return fail(e);
      }
    }
  })();

  // Cancelling asks the server (DELETE) and waits for the run's own 'cancelled' frame: the panel says cancelled
  // only when the run stopped. Pressed while starting, the request goes out as soon as the run has an id.
  const requestCancel = async () => {
    if (!run.id) return;
    try {
      await cancelRun(run.id);
    } catch (e) {
      message.textContent = `cancel failed: ${/** @type {any} */ (e)?.message ?? e}`;
    }
  };
  cancel.addEventListener('click', () => {
    run.cancelled = true;
    cancel.disabled = true;
    status.textContent = 'cancelling…';
    requestCancel();
  });
  const dispose = () => {
    clearInterval(timer);
    controller.abort();
    view.dispose?.();
    root.remove();
  };
  close.addEventListener('click', dispose);
  root.addEventListener('close-panel', dispose);
  show();
  return run;
};
