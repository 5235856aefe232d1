import { describe, expect, it } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as evalCommand } from '../../adapters/cli/commands/eval.ts';
import { decodePng } from '../image/png.ts';
import { evalTable, tradeoffSvg } from './eval-report.ts';
import { meanCosine, obeys, promptConstraints, type EvalRow } from './eval.ts';
import type { Recognition } from './recognise.ts';
import { evalPromptTemplates } from './vocabulary.ts';

const recognition = (features: number[], labels: Partial<Recognition['labels']> = {}): Recognition => ({
  features: Float32Array.from(features),
  labels: { object: 'star', colour: 'red', size: 'small', position: 'center', pattern: 'plain', background: 'blue', ...labels },
});

describe('eval scoring', () => {
  it('reads each prompt template’s constraint', () => {
    expect(evalPromptTemplates.map(promptConstraints)).toEqual([
      {}, { position: 'left' }, { position: 'right' }, { colour: 'blue' }, { colour: 'yellow' }, { pattern: 'dotted' }, { size: 'small' },
    ]);
  });

  it('counts an image as obeying only when every asked attribute matches', () => {
    expect(obeys({ position: 'left' }, recognition([1], { position: 'left' }))).toBe(true);
    expect(obeys({ position: 'left' }, recognition([1], { position: 'right' }))).toBe(false);
    expect(obeys({ colour: 'blue', pattern: 'dotted' }, recognition([1], { colour: 'blue', pattern: 'plain' }))).toBe(false);
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

  it('prints a table and an SVG plot naming every method', () => {
    const rows: EvalRow[] = [
      { concept: 'bullseye', method: 'real-images', word: '(its own images)', reconstruction: 0.9, editability: null, samples: [] },
      { concept: 'bullseye', method: 'ti-1v', word: '<bullseye>', reconstruction: 0.7, editability: 0.5, samples: [] },
      { concept: 'bullseye', method: 'init-word', word: 'ring', reconstruction: 0.4, editability: 0.8, samples: [] },
    ];
    const table = evalTable(rows);
    expect(table).toContain('ti-1v');
    expect(table).toMatch(/init-word\s+ring\s+0\.400\s+0\.800/);
    const svg = tradeoffSvg(rows);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const m of ['real-images', 'ti-1v', 'init-word']) expect(svg).toContain(`>${m}</text>`);
  });
});

describe('eval command', () => {
  it('runs end to end on tiny with tiny settings and writes the table, plot, grid and results', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pw-eval-'));
    try {
      await evalCommand(['--model', 'tiny', '--concepts', 'bullseye', '--samples', '2', '--steps', '3', '--ddim-steps', '3', '--vectors', '1', '--out', out]);
      for (const f of ['table.txt', 'results.json', 'tradeoff.svg', 'samples.png']) expect(existsSync(join(out, f))).toBe(true);
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(results.rows.map((r: EvalRow) => r.method)).toEqual(['real-images', 'ti-1v', 'init-word', 'hand-caption']);
      for (const r of results.rows) {
        expect(Math.abs(r.reconstruction)).toBeLessThanOrEqual(1 + 1e-6);
        if (r.editability !== null) expect(r.editability).toBeGreaterThanOrEqual(0);
        if (r.editability !== null) expect(r.editability).toBeLessThanOrEqual(1);
      }
      const grid = await decodePng(new Uint8Array(readFileSync(join(out, 'samples.png'))));
      // Three sampled methods × seven prompts, 2-px gaps.
      const side = (grid.width - 6 * 2) / 7;
      expect(grid.height).toBe(3 * side + 2 * 2);
      expect(existsSync(join(out, 'embeddings', 'bullseye-1v', 'learned_embeds.safetensors'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
