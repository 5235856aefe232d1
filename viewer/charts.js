/**
 * Step-indexed line charts on uPlot (small, fast, canvas-based). Points arrive one frame at a time; redraws are
 * batched to one per animation frame so a fast run cannot flood the page with layout work. Steps are whole
 * numbers, so the step axis only ever ticks at integers; a series may carry an exponential moving average
 * (shown with a checkbox) because a per-step loss is noisy; hovering writes every series' value at that step
 * into a read-out line under the chart.
 */
import uPlot from 'uplot';
import { fmt } from './dom.js';
import { ema } from './smoothing.js';

/**
 * @typedef {object} SeriesSpec
 * @property {string} key the value's name in `set(step, { key: value })`
 * @property {string} label
 * @property {string} stroke
 * @property {string} [scale] its own axis on the right (e.g. the learning rate beside the norms)
 * @property {boolean} [points] draw the points (a series with a value only every N steps)
 * @property {number} [smooth] also draw its EMA with this weight on the past (0..1), behind a checkbox
 */

// Integer step increments for uPlot's tick chooser: 1, 2, 5, 10, 20, 50, … never a fraction of a step.
const stepIncrs = Array.from({ length: 8 }, (_, i) => [1, 2, 5].map((m) => m * 10 ** i)).flat();

/**
 * A chart of several series over the training step.
 * @param {HTMLElement} container
 * @param {{ title: string, series: SeriesSpec[], height?: number }} options
 * @example
 * const c = stepChart(el, { title: 'loss', series: [{ key: 'loss', label: 'loss', stroke: '#c33', smooth: 0.9 }] });
 * c.set(1, { loss: 0.3 });
 */
export const stepChart = (container, { title, series, height = 180 }) => {
  /** @type {Map<number, Record<string, number | null | undefined>>} */
  const rows = new Map(); // step → { key: value }
  const smoothed = series.filter((s) => s.smooth != null);
  // Each smoothed series gets a companion drawn from the same rows, on the same scale.
  const drawn = [
    ...series,
    ...smoothed.map((s) => ({ key: `${s.key}:ema`, label: `${s.label} (EMA)`, stroke: s.stroke, scale: s.scale })),
  ];
  const scales = [...new Set(series.map((s) => s.scale ?? 'y'))];
  const readout = document.createElement('div');
  readout.className = 'readout';
  const plot = new uPlot(
    {
      title,
      width: Math.max(240, container.clientWidth || 400),
      height,
      scales: { x: { time: false } },
      series: [
        { label: 'step' },
        // Validation loss has a value only every N steps: draw its points and join them across the gaps.
        ...drawn.map((s, i) => ({
          label: s.label,
          stroke: s.stroke,
          scale: s.scale ?? 'y',
          spanGaps: true,
          width: i >= series.length ? 2 : 1,
          dash: i >= series.length ? [] : undefined,
          alpha: 1,
          show: i < series.length,
          points: { show: /** @type {SeriesSpec} */ (s).points ?? false },
        })),
      ],
      axes: [
        {
          incrs: stepIncrs,
          values: (/** @type {any} */ _u, /** @type {number[]} */ splits) => {
            container.dataset.stepTicks = splits.join(','); // what the axis shows, for tests and tools
            return splits.map((v) => (Number.isInteger(v) ? String(v) : ''));
          },
        },
        ...scales.map((scale, i) => ({ scale, side: i === 0 ? 3 : 1, grid: { show: i === 0 } })),
      ],
      hooks: {
        setCursor: [(/** @type {uPlot} */ u) => showReadout(u, u.cursor.idx)],
      },
    },
    [[], ...drawn.map(() => [])],
    container,
  );
  container.append(readout);

  /** @type {number[]} */
  let steps = [];
  /** Every shown series' value at the hovered step (uPlot's legend shows them too, but far from a phone's finger). */
  const showReadout = (/** @type {uPlot} */ u, /** @type {number | null | undefined} */ idx) => {
    if (idx == null || steps[idx] == null) return;
    readout.dataset.step = String(steps[idx]);
    const values = drawn
      .map((s, i) => (u.series[i + 1].show ? `${s.label} ${fmt(u.data[i + 1][idx])}` : ''))
      .filter(Boolean);
    readout.textContent = [`step ${steps[idx]}`, ...values].join(' · ');
  };

  if (smoothed.length) {
    const toggle = /** @type {HTMLInputElement} */ (
      Object.assign(document.createElement('input'), { type: 'checkbox', className: 'smooth' })
    );
    const label = document.createElement('label');
    label.className = 'smooth-toggle';
    label.append(toggle, ' smoothed (EMA)');
    toggle.addEventListener('change', () => {
      smoothed.forEach((_, i) => {
        plot.setSeries(1 + series.length + i, { show: toggle.checked });
      });
      container.dataset.smoothed = String(toggle.checked);
    });
    container.prepend(label);
  }

  let pending = false;
  const redraw = () => {
    pending = false;
    steps = [...rows.keys()].sort((a, b) => a - b);
    const columns = series.map((s) => steps.map((x) => rows.get(x)?.[s.key] ?? null));
    const emas = smoothed.map((s) => ema(columns[series.indexOf(s)], s.smooth ?? 0.9));
    plot.setData([steps, ...columns, ...emas]);
  };
  new ResizeObserver(() => plot.setSize({ width: Math.max(240, container.clientWidth), height })).observe(container);
  return {
    /** Records values at `step` (merging with what is there) and schedules a redraw. */
    set(/** @type {number} */ step, /** @type {Record<string, number | undefined>} */ values) {
      rows.set(step, { ...rows.get(step), ...values });
      if (!pending) (pending = true), requestAnimationFrame(redraw);
    },
    /** How many steps have a value for `key`. */
    count: (/** @type {string} */ key) => [...rows.values()].filter((r) => r[key] != null).length,
    /** Forgets every point (before a replay). */
    reset() {
      rows.clear();
      redraw();
    },
  };
};
