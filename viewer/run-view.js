/**
 * One run on the page: a panel with its own frame stream. The shell handles what every run has — status, step
 * counter, speed, cancel, reconnect — and hands every frame to the kind's view (generate-view.js,
 * train-view.js). When a stream ends before the run did (a dropped connection), the panel re-attaches with
 * `GET /v1/runs/:id/frames`, which replays the run's records and latest previews, so the view is reset first.
 *
 * State the page exposes for tests and tools lives in data attributes: `data-run-id`, `data-kind`,
 * `data-status` (starting|running|done|error|cancelled|lost), `data-step`, `data-of`, `data-phase`.
 */
import { attachRun, cancelRun, ensureOk } from './api.js';
import { el, fmt } from './dom.js';
import { framesOf } from './frames.js';

const terminal = new Set(['done', 'error', 'cancelled']);
const reconnectTries = 5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a panel in `container` and starts following a run. `start(signal)` returns the run's streaming
 * response (a POST that starts it, or an attach); `makeView(body, run)` builds the kind's view. `runId` and
 * `steps` (the run's total) are given when attaching to a run the server listed.
 * @example openRun(runsEl, { kind: 'generate', title: 'a red star', start: (s) => startGenerate(req, s), makeView:
 * generateView })
 */
export const openRun = (container, { kind, title, start, makeView, runId, steps }) => {
  const controller = new AbortController();
  const status = el('span', { className: 'status' }, 'starting');
  const counter = el('span', { className: 'counter' });
  const speed = el('span', { className: 'speed' });
  const message = el('p', { className: 'message' });
  const cancel = el('button', { type: 'button', className: 'cancel', textContent: 'Cancel' });
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
    el(
      'header',
      {},
      el('strong', { className: 'title', textContent: title }),
      idEl,
      status,
      counter,
      speed,
      cancel,
      close,
    ),
    message,
    body,
  );
  container.prepend(root);

  const run = { id: undefined, steps, root, cancelled: false };
  const view = makeView(body, run);
  const setStatus = (s, text = s) => {
    const changed = root.dataset.status !== s;
    root.dataset.status = s;
    status.textContent = text;
    cancel.disabled = terminal.has(s) || s === 'lost';
    if (terminal.has(s) || s === 'lost') clearInterval(timer);
    // app.js refreshes the server's run list when a run starts or ends, instead of waiting for its next poll.
    if (changed)
      root.dispatchEvent(new CustomEvent('run-status', { bubbles: true, detail: { id: run.id, status: s } }));
  };
  const setId = (id) => {
    if (!id || run.id === id) return;
    run.id = id;
    root.dataset.runId = id;
    idEl.textContent = id.slice(0, 8);
    idEl.title = id;
  };
  setId(runId);

  const showStep = (phase, step, of, rate) => {
    Object.assign(root.dataset, { step, of, phase });
    counter.textContent = `${phase} ${step}/${of}`;
    if (rate) speed.textContent = `${fmt(rate, 3)} it/s`;
  };
  // Training sends one progress frame when it starts and then a loss frame per step: the step counter follows
  // the loss frames, and the speed is the steps done in the last second, sampled by a timer — frames replayed on
  // re-attach arrive in one burst, so the second after a (re)start is not measured.
  let trainOf = steps ?? '?'; // a replay may no longer hold the starting progress frame; the caller may know
  let lossStep;
  let sample;
  let quietUntil = 0;
  const onLoss = (f) => {
    lossStep = f.step;
    showStep('train', f.step, trainOf);
  };
  const measure = () => {
    const now = performance.now();
    if (lossStep === undefined || now < quietUntil) return;
    if (sample && lossStep > sample.step && root.dataset.phase === 'train')
      speed.textContent = `${fmt(((lossStep - sample.step) * 1000) / (now - sample.t), 3)} it/s`;
    sample = { t: now, step: lossStep };
  };
  const restartSpeed = () => {
    sample = undefined;
    quietUntil = performance.now() + 1500;
  };
  restartSpeed();
  const timer = setInterval(measure, 1000);

  const onFrame = async (f) => {
    setId(f.runId);
    if (root.dataset.status === 'starting') setStatus('running');
    if (f.type === 'progress') {
      if (f.phase === 'train') trainOf = f.of;
      showStep(f.phase, f.step, f.of, f.itPerSec ?? (f.elapsedMs > 0 ? (f.step * 1000) / f.elapsedMs : undefined));
    } else if (f.type === 'loss') onLoss(f);
    else if (f.type === 'done') setStatus('done');
    else if (f.type === 'error') {
      setStatus(f.code === 'cancelled' ? 'cancelled' : 'error');
      message.textContent = `${f.code}: ${f.message}`;
    }
    await view.frame(f);
  };

  const follow = async (response) => {
    await ensureOk(response);
    setId(response.headers.get('x-run-id') ?? undefined);
    if (!terminal.has(root.dataset.status)) setStatus('running');
    for await (const f of framesOf(response)) await onFrame(f);
  };

  const fail = (e) => {
    if (controller.signal.aborted) return;
    setStatus('error');
    message.textContent = e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
  };

  // The first stream, then re-attaches while the run is neither finished nor given up on.
  (async () => {
    try {
      await follow(await start(controller.signal));
    } catch (e) {
      if (!run.id || e?.status) return fail(e); // refused outright (bad request…): nothing to re-attach to
    }
    for (let tries = 1; !terminal.has(root.dataset.status) && !controller.signal.aborted; tries++) {
      if (run.cancelled) return setStatus('cancelled');
      if (!run.id || tries > reconnectTries) return setStatus('lost', 'connection lost');
      setStatus('running', `reconnecting (${tries})`);
      await sleep(500 * tries);
      try {
        const res = await attachRun(run.id, controller.signal);
        if (res.status === 404) return setStatus('lost', 'run gone from server');
        view.reset(); // the replay starts again from the run's first record
        restartSpeed();
        await follow(res);
      } catch (e) {
        if (e?.status && e.status !== 503) return fail(e);
      }
    }
  })();

  cancel.addEventListener('click', async () => {
    run.cancelled = true;
    setStatus(root.dataset.status, 'cancelling…');
    try {
      if (!run.id) throw new Error('no run id yet');
      await cancelRun(run.id);
    } catch {
      // The server cannot cancel it by id: leaving the stream stops a generation all the same.
      controller.abort();
      setStatus('cancelled');
    }
  });
  close.addEventListener('click', () => {
    clearInterval(timer);
    controller.abort();
    view.dispose?.();
    root.remove();
  });
  return run;
};
