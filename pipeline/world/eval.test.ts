import { describe, expect, it } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as evalCommand } from '../../adapters/cli/commands/eval.ts';
import { decodePng } from '../../common/image/png.ts';
import { evalTable, tradeoffSvg } from './eval-report.ts';
import { conceptIdentity, meanCosine, obeys, promptConstraints, scoreSamples, type EvalRow } from './eval.ts';
import { recogniserHeads } from './recogniser.ts';
import type { Recognition } from './recognise.ts';
import { evalPromptTemplates } from './vocabulary.ts';
import { captureOutput } from '../../test/support/capture-output.ts';

const recognition = (
  features: number[],
  labels: Partial<Recognition['labels']> = {},
  object?: number[],
): Recognition => ({
  features: Float32Array.from(features),
  labels: {
    object: 'star',
    colour: 'red',
    size: 'small',
    position: 'center',
    pattern: 'plain',
    background: 'blue',
    ...labels,
  },
  probabilities: {
    object: Float32Array.from(object ?? recogniserHeads[0].labels.map(() => 1 / recogniserHeads[0].labels.length)),
    colour: new Float32Array(8),
    size: new Float32Array(2),
    position: new Float32Array(5),
    pattern: new Float32Array(4),
    background: new Float32Array(8),
  },
});

/** An object-head distribution with probability `p` on `label` and the rest spread evenly. */
const objectOn = (label: string, p: number): number[] => {
  const labels = recogniserHeads[0].labels;
  return labels.map((l) => (l === label ? p : (1 - p) / (labels.length - 1)));
};

describe('eval scoring', () => {
  it('reads each prompt template’s constraint', () => {
    expect(evalPromptTemplates.map(promptConstraints)).toEqual([
      {},
      { position: 'left' },
      { position: 'right' },
      { colour: 'blue' },
      { colour: 'yellow' },
      { pattern: 'dotted' },
      { size: 'small' },
    ]);
  });

  it('counts an image as obeying only when every asked attribute matches', () => {
    expect(obeys({ position: 'left' }, recognition([1], { position: 'left' }))).toBe(true);
    expect(obeys({ position: 'left' }, recognition([1], { position: 'right' }))).toBe(false);
    expect(obeys({ colour: 'blue', pattern: 'dotted' }, recognition([1], { colour: 'blue', pattern: 'plain' }))).toBe(
      false,
    );
    expect(obeys({}, recognition([1]))).toBe(true);
  });

  it('averages cosine similarity over all pairs, skipping self-pairs for a set against itself', () => {
    const a = [recognition([1, 0]), recognition([0, 1])];
    const b = [recognition([1, 1])];
    // cos((1,0),(1,1)) = cos((0,1),(1,1)) = 1/√2.
    expect(meanCosine(a, b)).toBeCloseTo(Math.SQRT1_2, 6);
    // The only cross pairs of a with itself are orthogonal.
    expect(meanCosine(a, a, true)).toBeCloseTo(0, 6);
  });

  it('reads identity as the mean object-head probability of the concept, and null for a name the recogniser lacks', () => {
    const rs = [recognition([1], {}, objectOn('bullseye', 0.9)), recognition([1], {}, objectOn('bullseye', 0.3))];
    expect(conceptIdentity(rs, 'bullseye')).toBeCloseTo(0.6, 6);
    expect(conceptIdentity(rs, 'ring')).toBeCloseTo((0.1 + 0.7) / 2 / (recogniserHeads[0].labels.length - 1), 6);
    expect(conceptIdentity(rs, 'my-dog')).toBeNull();
  });

  it('scores editability per prompt and overall as the share of obeying samples', () => {
    // One list per template: 'a photo of a {}' (scored for reconstruction and identity only), then the six edits.
    const recognised = evalPromptTemplates.map((_, i) => [
      recognition([1, 0], { position: i === 1 ? 'left' : 'center' }, objectOn('bullseye', i ? 0.2 : 0.5)),
      recognition(
        [0, 1],
        { position: i === 1 ? 'left' : 'center', colour: i === 3 ? 'blue' : 'red' },
        objectOn('bullseye', i ? 0.4 : 0.5),
      ),
    ]);
    const s = scoreSamples(recognised, [recognition([1, 0])], 'bullseye');
    // Left: both obey; right: neither; blue: one; yellow: none; dotted: none; small: both (size 'small').
    expect(s.editabilityByPrompt).toEqual([null, 1, 0, 0.5, 0, 0, 1]);
    expect(s.editability).toBeCloseTo(5 / 12, 6);
    expect(s.reconstruction).toBeCloseTo(0.5, 6);
    expect(s.identity).toBeCloseTo(0.5, 6);
    expect(s.identityInEdits).toBeCloseTo(0.3, 6);
  });

  it('prints a table and SVG plots naming every method', () => {
    const byPrompt = [null, 1, 0.5, 0.5, 1, 1, 1];
    const rows: EvalRow[] = [
      {
        concept: 'bullseye',
        run: 0,
        method: 'real-images',
        word: '(its own images)',
        reconstruction: 0.9,
        identity: 0.8,
        identityInEdits: null,
        editability: null,
        editabilityByPrompt: [],
        samples: [],
      },
      {
        concept: 'bullseye',
        run: 0,
        method: 'ti-1v',
        word: '<bullseye>',
        reconstruction: 0.7,
        identity: 0.5,
        identityInEdits: 0.4,
        editability: 0.5,
        editabilityByPrompt: byPrompt,
        samples: [],
      },
      {
        concept: 'bullseye',
        run: 0,
        method: 'init-word',
        word: 'ring',
        reconstruction: 0.4,
        identity: 0.1,
        identityInEdits: 0.05,
        editability: 0.8,
        editabilityByPrompt: byPrompt,
        samples: [],
      },
    ];
    const table = evalTable(rows);
    expect(table).toContain('ti-1v');
    expect(table).toMatch(/init-word\s+ring\s+0\.400\s+0\.100\s+0\.050\s+0\.800/);
    expect(table).toMatch(/a \{\} on the right\s+0\.500\s+0\.500/);
    // A second run: each row's concept gets its run number, and each run gets its own mean line.
    const twice = evalTable([...rows, ...rows.slice(1).map((r) => ({ ...r, run: 1, editability: 0.2 }))]);
    expect(twice).toMatch(/bullseye #2\s+ti-1v/);
    expect(twice).toMatch(/\(mean\)\s+ti-1v\s+0\.700\s+0\.500\s+0\.400\s+0\.350/);
    expect(twice).toMatch(/\(run 2 mean\)\s+ti-1v\s+0\.700\s+0\.500\s+0\.400\s+0\.200/);
    for (const y of ['reconstruction', 'identity'] as const) {
      const svg = tradeoffSvg(rows, y);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain(y === 'identity' ? 'Identity vs editability' : 'Reconstruction vs editability');
      for (const m of ['real-images', 'ti-1v', 'init-word']) expect(svg).toContain(`>${m}</text>`);
    }
  });
});

describe('eval command', () => {
  it('runs end to end on tiny with tiny settings and writes the table, plot, grid and results', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pw-eval-'));
    try {
      const { out: table } = await captureOutput(() =>
        evalCommand([
          '--model',
          'tiny',
          '--concepts',
          'bullseye',
          '--samples',
          '2',
          '--steps',
          '3',
          '--ddim-steps',
          '3',
          '--vectors',
          '1',
          '--runs',
          '2',
          '--out',
          out,
        ]),
      );
      // The table goes to stdout, the same text as table.txt.
      expect(table).toContain(readFileSync(join(out, 'table.txt'), 'utf8').trim());
      for (const f of ['table.txt', 'results.json', 'tradeoff.svg', 'tradeoff-identity.svg', 'samples.png'])
        expect(existsSync(join(out, f))).toBe(true);
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(results.rows.map((r: EvalRow) => `${r.method}:${r.run}`)).toEqual([
        'real-images:0',
        'ti-1v:0',
        'init-word:0',
        'hand-caption:0',
        'ti-1v:1',
        'init-word:1',
        'hand-caption:1',
      ]);
      for (const r of results.rows) {
        expect(Math.abs(r.reconstruction)).toBeLessThanOrEqual(1 + 1e-6);
        if (r.editability !== null) expect(r.editability).toBeGreaterThanOrEqual(0);
        if (r.editability !== null) expect(r.editability).toBeLessThanOrEqual(1);
        expect(r.identity).toBeGreaterThanOrEqual(0);
        expect(r.identity).toBeLessThanOrEqual(1);
      }
      const grid = await decodePng(new Uint8Array(readFileSync(join(out, 'samples.png'))));
      // Three sampled methods × two runs × seven prompts, 2-px gaps.
      const side = (grid.width - 6 * 2) / 7;
      expect(grid.height).toBe(6 * side + 5 * 2);
      // Run 2 starts at seed 0 + 1 × 2 samples.
      for (const s of [0, 2])
        expect(existsSync(join(out, 'embeddings', `bullseye-1v-seed${s}`, 'learned_embeds.safetensors'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
