/**
 * Step-indexed line charts on uPlot (small, fast, canvas-based). Points arrive one frame at a time; redraws are
 * batched to one per animation frame so a fast run cannot flood the page with layout work.
 */
import uPlot from 'uplot';

/**
 * A chart of several series over the training step. `series` are `{ key, label, stroke, scale? }`; a series
 * with its own `scale` gets its own axis on the right (e.g. the learning rate beside the norms).
 * @example
 * const c = stepChart(el, { title: 'loss', series: [{ key: 'loss', label: 'loss', stroke: '#c33' }] });
 * c.set(1, { loss: 0.3 });
 */
export const stepChart = (container, { title, series, height = 180 }) => {
  const rows = new Map(); // step → { key: value }
  const scales = [...new Set(series.map((s) => s.scale ?? 'y'))];
  const plot = new uPlot(
    {
      title,
      width: Math.max(240, container.clientWidth || 400),
      height,
      scales: { x: { time: false } },
      series: [
        { label: 'step' },
        // Validation loss has a value only every N steps: draw its points and join them across the gaps.
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          scale: s.scale ?? 'y',
          spanGaps: true,
          points: { show: s.points ?? false },
        })),
      ],
      axes: [{}, ...scales.map((scale, i) => ({ scale, side: i === 0 ? 3 : 1, grid: { show: i === 0 } }))],
    },
    [[], ...series.map(() => [])],
    container,
  );
  let pending = false;
  const redraw = () => {
    pending = false;
    const steps = [...rows.keys()].sort((a, b) => a - b);
    plot.setData([steps, ...series.map((s) => steps.map((x) => rows.get(x)[s.key] ?? null))]);
  };
  new ResizeObserver(() => plot.setSize({ width: Math.max(240, container.clientWidth), height })).observe(container);
  return {
    /** Records values at `step` (merging with what is there) and schedules a redraw. */
    set(step, values) {
      rows.set(step, { ...rows.get(step), ...values });
      if (!pending) (pending = true), requestAnimationFrame(redraw);
    },
    /** How many steps have a value for `key`. */
    count: (key) => [...rows.values()].filter((r) => r[key] != null).length,
    /** Forgets every point (before a replay). */
    reset() {
      rows.clear();
      redraw();
    },
  };
};
