/**
 * A generation lives while someone reads it. When its last reader leaves before it ended — the page that started
 * it was reloaded, or an API client hung up — it is not cancelled at once: for a grace period any reader that
 * attaches (`GET /v1/runs/:id/frames`) keeps it going, so a reloaded page finds its generation still running. Past
 * the grace period with nobody reading, it is cancelled as before, so a client that simply leaves still frees
 * the slot and the memory.
 */

/** Runs a function after `ms`; returns what stops it. Injected so tests move time by hand. */
export type Schedule = (fn: () => void, ms: number) => () => void;

/** The host's timer. */
export const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

export interface ReattachGrace {
  /** Marks `id` as a run that lives while read; until then `reader` counts nothing for it. */
  track(id: string): void;
  /**
   * A reader started streaming `id`. Returns what to call when it leaves before the run ended, or undefined for
   * a run that is not tracked (training goes on without readers).
   */
  reader(id: string): (() => void) | undefined;
  /** The run ended: forget it (and any pending cancel). */
  ended(id: string): void;
}

/**
 * @example
 * const grace = reattachGrace({ graceMs: 5000, cancel: (id) => runs.cancel(id, 'the client went away') });
 * grace.track(id); const leave = grace.reader(id); … leave?.(); // cancelled in 5 s unless someone re-attaches
 */
export const reattachGrace = ({
  graceMs,
  cancel,
  schedule = realSchedule,
}: {
  graceMs: number;
  cancel: (id: string) => void;
  schedule?: Schedule;
}): ReattachGrace => {
  const tracked = new Map<string, { readers: number; stop?: () => void }>();
  const lastReaderLeft = (id: string) => {
    if (graceMs <= 0) return cancel(id);
    const t = tracked.get(id);
    if (!t) return;
    t.stop = schedule(() => {
      const now = tracked.get(id);
      if (!now || now.readers > 0) return;
      tracked.delete(id);
      cancel(id);
    }, graceMs);
  };
  return {
    track(id) {
      if (!tracked.has(id)) tracked.set(id, { readers: 0 });
    },
    reader(id) {
      const t = tracked.get(id);
      if (!t) return undefined;
      t.readers++;
      t.stop?.();
      t.stop = undefined;
      let left = false;
      return () => {
        if (left) return;
        left = true;
        t.readers--;
        if (t.readers === 0 && tracked.get(id) === t) lastReaderLeft(id);
      };
    },
    ended(id) {
      tracked.get(id)?.stop?.();
      tracked.delete(id);
    },
  };
};
