/**
 * The server's runs (`GET /v1/runs`), polled while the page is visible: a row per run with a button to watch
 * it. Runs still going when the page loads are opened automatically, which is how a reloaded page picks its
 * runs back up; later runs (started here or elsewhere) are only listed, so a run this page is starting is never
 * opened twice.
 */
import { listRuns } from './api.js';
import { el } from './dom.js';

const pollMs = 2000;

/**
 * Keeps `tbody` in step with the server. `isOpen(id)` says whether a panel follows that run already;
 * `watch(run)` opens one.
 * @param {HTMLElement} tbody
 * @param {{ isOpen: (id: string) => boolean, watch: (run: any) => void }} hooks
 */
export const runsTable = (tbody, { isOpen, watch }) => {
  let first = true;
  const refresh = async () => {
    let runs;
    try {
      const body = await listRuns();
      runs = Array.isArray(body) ? body : body?.runs;
    } catch {
      return; // an older server without a run registry: nothing to list
    }
    if (!Array.isArray(runs)) return;
    tbody.replaceChildren(
      ...runs.map((r) => {
        const button = el('button', {
          type: 'button',
          textContent: isOpen(r.id) ? 'watching' : 'watch',
          disabled: isOpen(r.id),
        });
        button.addEventListener('click', () => watch(r));
        return el(
          'tr',
          { dataset: { runId: r.id, status: r.status } },
          el('td', {}, el('code', { textContent: String(r.id).slice(0, 8), title: r.id })),
          el('td', { textContent: r.kind ?? '' }),
          el('td', { textContent: r.status ?? '' }),
          el('td', { textContent: r.of ? `${r.step ?? 0}/${r.of}` : '' }),
          el('td', {}, button),
        );
      }),
    );
    if (first) for (const r of runs) if (r.status === 'running' && !isOpen(r.id)) watch(r);
    first = false;
  };
  const loop = async () => {
    if (document.visibilityState !== 'hidden') await refresh();
    setTimeout(loop, pollMs);
  };
  loop();
  return { refresh };
};
