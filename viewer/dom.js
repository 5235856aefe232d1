/** A few lines of DOM building, so the views read as structure rather than createElement calls. */

/**
 * An element with attributes/properties and children.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 * @example el('p', { className: 'muted', dataset: { step: 3 } }, 'step ', el('b', {}, '3'))
 */
export const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  if (dataset) for (const [k, v] of Object.entries(dataset)) node.dataset[k] = String(v);
  node.append(.../** @type {(Node | string)[]} */ (children.filter((c) => c != null && c !== false)));
  return node;
};

/**
 * Formats a number for a small readout: few significant digits, exponent for tiny values.
 * @param {number | null | undefined} x
 */
export const fmt = (x, digits = 4) => {
  if (x == null || Number.isNaN(x)) return '–';
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
};

/** Bytes as a human size. @param {number | undefined} n */
export const fmtBytes = (n) =>
  n == null
    ? ''
    : n < 1024
      ? `${n} B`
      : n < 1 << 20
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${(n / (1 << 20)).toFixed(1)} MiB`;

/** The last path segment (server paths may use either separator). @param {unknown} p */
export const baseName = (p) => String(p).split(/[\\/]/).pop() ?? '';
