/**
 * The evaluation's outputs: a text table, the reconstruction-vs-editability plot as a hand-written SVG (the
 * paper's Fig. 7 trade-off, one colour per method, one point per concept plus the method's mean), a PNG grid of
 * samples, and the rows as JSON.
 */
import { encodePng } from '../../common/image/png.ts';
import { tileGrid, type RgbaImage } from '../../common/image/image.ts';
import type { DrawingQuality } from './drawing-quality.ts';
import type { EvalRow } from './eval.ts';
import { evalPromptTemplates } from './vocabulary.ts';

const pct = (x: number | null) => (x === null ? '    —' : x.toFixed(3).padStart(5));

/**
 * A fixed-width table: concept, method, word, reconstruction, identity (in 'a photo of a {}' and in the edit
 * prompts), editability; then each method's mean (over concepts and runs) and, with several runs, each run's mean,
 * which shows how far a single run can be trusted; then each method's mean editability per prompt (which edits
 * the learned word resists).
 *
 * @example
 * console.log(evalTable(rows));
 */
export const evalTable = (rows: readonly EvalRow[]): string => {
  const line = (c: string, m: string, w: string, r: string, i: string, ie: string, e: string) =>
    `${c.padEnd(18)} ${m.padEnd(13)} ${w.padEnd(26)} ${r.padStart(14)} ${i.padStart(9)} ${ie.padStart(17)} ${e.padStart(11)}`;
  const runs = new Set(rows.map((r) => r.run)).size;
  const tag = (r: EvalRow) => (runs > 1 && r.method !== 'real-images' ? `${r.concept} #${r.run + 1}` : r.concept);
  const out = [line('concept', 'method', 'word', 'reconstruction', 'identity', 'identity in edits', 'editability')];
  for (const r of rows)
    out.push(
      line(
        tag(r),
        r.method,
        r.word.slice(0, 26),
        pct(r.reconstruction),
        pct(r.identity),
        pct(r.identityInEdits),
        pct(r.editability),
      ),
    );
  const means = (label: string, rs: readonly EvalRow[]) => {
    const avg = (k: 'identity' | 'identityInEdits' | 'editability') => pct(meanOf(rs.map((r) => r[k])));
    return line(
      label,
      rs[0].method,
      '',
      pct(mean(rs.map((r) => r.reconstruction))),
      avg('identity'),
      avg('identityInEdits'),
      avg('editability'),
    );
  };
  out.push('');
  const groups = methodGroups(rows);
  for (const [, rs] of groups) out.push(means('(mean)', rs));
  if (runs > 1) {
    out.push('');
    for (const [m, rs] of groups) {
      if (m === 'real-images') continue;
      for (let k = 0; k < runs; k++)
        out.push(
          means(
            `(run ${k + 1} mean)`,
            rs.filter((r) => r.run === k),
          ),
        );
    }
  }
  const edited = [...groups].filter(([, rs]) => rs.some((r) => r.editabilityByPrompt.length));
  if (edited.length) {
    const prompts = evalPromptTemplates.map((t, i) => [t, i] as const).slice(1);
    out.push('', `editability per prompt (mean over concepts${runs > 1 ? ' and runs' : ''})`);
    out.push(`${'prompt'.padEnd(32)} ${edited.map(([m]) => m.padStart(13)).join(' ')}`);
    for (const [t, i] of prompts)
      out.push(
        `${t.padEnd(32)} ${edited.map(([, rs]) => pct(meanOf(rs.map((r) => r.editabilityByPrompt[i] ?? null))).padStart(13)).join(' ')}`,
      );
  }
  return `${out.join('\n')}\n`;
};

/** The mean of the non-null values (null when there are none). */
const meanOf = (xs: readonly (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? mean(v) : null;
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const methodGroups = (rows: readonly EvalRow[]): Map<string, EvalRow[]> => {
  const g = new Map<string, EvalRow[]>();
  for (const r of rows) g.set(r.method, [...(g.get(r.method) ?? []), r]);
  return g;
};

const palette = [
  '#d62728',
  '#ff7f0e',
  '#1f77b4',
  '#2ca02c',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Each plot's title and vertical axis label, by the score it plots. */
const plotted = {
  reconstruction: { title: 'Reconstruction vs editability', axis: 'reconstruction (mean feature cosine)' },
  identity: { title: 'Identity vs editability', axis: 'identity (P(concept) from the recogniser)' },
};

/**
 * The trade-off plot: x = editability, y = reconstruction (or identity), both on [0, 1] axes scaled to the data;
 * small dots per concept, a large dot per method mean; the real-images bound as a dashed horizontal line. Rows
 * without a value for `y` are left out.
 *
 * @example
 * files['tradeoff.svg'] = tradeoffSvg(rows);
 * files['tradeoff-identity.svg'] = tradeoffSvg(rows, 'identity');
 */
export const tradeoffSvg = (all: readonly EvalRow[], y: 'reconstruction' | 'identity' = 'reconstruction'): string => {
  const W = 560,
    H = 420,
    L = 70,
    R = 170,
    T = 30,
    B = 60;
  const rows = all.filter((r) => r[y] !== null);
  const value = (r: EvalRow) => r[y]!;
  const ys = rows.map(value);
  const lo = Math.min(0, ...ys),
    hi = Math.max(1, ...ys);
  const round = (v: number) => Math.round(v * 10) / 10;
  const X = (e: number) => round(L + e * (W - L - R));
  const Y = (r: number) => round(T + (1 - (r - lo) / (hi - lo || 1)) * (H - T - B));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(L + W - R) / 2}" y="18" text-anchor="middle" font-size="14">${plotted[y].title}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 20}" text-anchor="middle">editability (fraction of samples obeying the prompt)</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${plotted[y].axis}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const e = k / 4,
      r = lo + ((hi - lo) * k) / 4;
    parts.push(`<text x="${X(e)}" y="${H - B + 16}" text-anchor="middle">${e.toFixed(2)}</text>`);
    parts.push(`<text x="${L - 6}" y="${Y(r) + 4}" text-anchor="end">${r.toFixed(2)}</text>`);
  }
  [...methodGroups(rows)].forEach(([m, rs], i) => {
    const colour = palette[i % palette.length];
    const ly = T + 10 + i * 18;
    if (rs[0].editability === null) {
      const r = mean(rs.map(value));
      parts.push(`<line x1="${L}" y1="${Y(r)}" x2="${W - R}" y2="${Y(r)}" stroke="${colour}" stroke-dasharray="6 4"/>`);
      parts.push(
        `<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 28}" y2="${ly}" stroke="${colour}" stroke-dasharray="4 2"/>`,
      );
    } else {
      for (const r of rs)
        parts.push(
          `<circle cx="${X(r.editability!)}" cy="${Y(value(r))}" r="3" fill="${colour}" fill-opacity="0.5"><title>${esc(`${r.concept} ${m}`)}</title></circle>`,
        );
      parts.push(
        `<circle cx="${X(mean(rs.map((r) => r.editability!)))}" cy="${Y(mean(rs.map(value)))}" r="7" fill="${colour}" stroke="black"/>`,
      );
      parts.push(`<circle cx="${W - R + 20}" cy="${ly}" r="5" fill="${colour}" stroke="black"/>`);
    }
    parts.push(`<text x="${W - R + 34}" y="${ly + 4}">${esc(m)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
};

/**
 * A grid of samples: one row per (concept, method), the first sample of each prompt across, 2 px gaps.
 *
 * @example
 * files['samples.png'] = await samplesGridPng(rows);
 */
export const samplesGridPng = async (rows: readonly EvalRow[]): Promise<Uint8Array> => {
  const withSamples = rows.filter((r) => r.samples.length);
  const images: RgbaImage[] = withSamples.flatMap((r) => r.samples.map((s) => s[0]));
  if (!images.length) return encodePng({ width: 1, height: 1, channels: 4, data: new Uint8Array(4) });
  return encodePng(tileGrid(images, evalPromptTemplates.length, { gap: 2, background: [255, 255, 255, 255] }));
};

/** The rows without their pixels, for `results.json`. */
export const evalJson = (rows: readonly EvalRow[]): string =>
  `${JSON.stringify({ prompts: evalPromptTemplates, rows: rows.map(({ samples: _s, ...r }) => r) }, null, 2)}\n`;

/**
 * The quality bar as a table: one row per reference (generated, real through the VAE, real, chance), one column
 * per attribute.
 *
 * @example
 * console.log(drawingTable(await measureDrawing(cfg, deps)));
 */
export const drawingTable = (q: DrawingQuality): string => {
  const heads = Object.keys(q.chance) as (keyof DrawingQuality['chance'])[];
  const line = (name: string, cells: string[]) => `${name.padEnd(28)} ${cells.map((c) => c.padStart(10)).join(' ')}`;
  return `${[
    line(`(${q.prompts.length} world prompts)`, heads),
    line(
      'generated',
      heads.map((h) => q.generated[h].toFixed(3)),
    ),
    line(
      'real scenes through the VAE',
      heads.map((h) => q.throughVae[h].toFixed(3)),
    ),
    line(
      'real scenes',
      heads.map((h) => q.real[h].toFixed(3)),
    ),
    line(
      'chance',
      heads.map((h) => q.chance[h].toFixed(3)),
    ),
  ].join('\n')}\n`;
};
