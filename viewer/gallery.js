/**
 * The history of results, newest first: every finished generation the server still lists (`GET /v1/runs`), its
 * images read back from its frames (`GET /v1/runs/:id/frames`, which replays a finished run and ends), each with
 * the settings it was made with (result-card.js). It comes from the server's run registry, so it survives a reload
 * (and, with a run store, a server restart).
 *
 * "Clear" hides the results made before it was pressed, in this browser only (a `hide before` time kept in
 * localStorage): the server has no way to delete a run's record, and other browsers keep their own view.
 */
import { attachRun, listRuns } from './api.js';
import { framesOf } from './frames.js';
import { pngUrl } from './pictures.js';
import { resultCard } from './result-card.js';

const hideKey = 'pseudoword-hide-results-before';
// The registry keeps the newest 50 finished runs; a page shows at most this many of them.
const shown = 24;

/**
 * Fills `list` with past results and keeps it up to date; `clear` is the button that hides the current ones.
 * @param {HTMLElement} list
 * @param {HTMLButtonElement} clear
 * @returns {{ refresh: () => Promise<void> }}
 */
export const gallery = (list, clear) => {
  /** @type {Map<string, HTMLElement[]>} the cards of each run already read, by run id */
  const cards = new Map();
  const hiddenBefore = () => localStorage.getItem(hideKey) ?? '';
  let newestShown = '';

  /** Reads one finished run's images into cards. */
  const load = async (/** @type {any} */ r) => {
    /** @type {HTMLElement[]} */
    const made = [];
    for await (const f of framesOf(await attachRun(r.id))) {
      if (f.type !== 'image') continue;
      const url = pngUrl(f.png);
      made.push(resultCard({ url, width: f.width, height: f.height, index: f.index, settings: r.meta, runId: r.id }));
    }
    return made;
  };

  const update = async () => {
    /** @type {any[]} */
    let runs;
    try {
      runs = await listRuns();
    } catch {
      return; // a server without a run registry: no history to show
    }
    const before = hiddenBefore();
    const results = runs
      .filter((r) => r.kind === 'generate' && r.status === 'done' && (!before || (r.endedAt ?? '') > before))
      .sort((a, b) => String(b.endedAt ?? '').localeCompare(String(a.endedAt ?? '')))
      .slice(0, shown);
    for (const r of results) if (!cards.has(r.id)) cards.set(r.id, await load(r).catch(() => []));
    const keep = new Set(results.map((r) => r.id));
    for (const [id, made] of cards)
      if (!keep.has(id)) {
        for (const c of made) URL.revokeObjectURL(/** @type {HTMLImageElement} */ (c.querySelector('img')).src);
        cards.delete(id);
      }
    newestShown = String(results[0]?.endedAt ?? '');
    list.replaceChildren(...results.flatMap((r) => cards.get(r.id) ?? []));
    list.dataset.results = String(list.childElementCount);
    clear.disabled = list.childElementCount === 0;
  };

  // One update at a time: two overlapping ones would read the same run twice.
  let queue = Promise.resolve();
  const refresh = () => (queue = queue.then(update, update));

  clear.addEventListener('click', () => {
    // The server's clock stamps endedAt and this browser's may differ: hide up to the newest result shown.
    if (newestShown) localStorage.setItem(hideKey, newestShown);
    refresh();
  });
  return { refresh };
};
