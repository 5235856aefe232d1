import { describe, expect, it } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as evalCommand } from '../../adapters/cli/commands/eval.ts';
import { captureOutput } from '../../test/support/capture-output.ts';
import type { EvalRow } from './eval.ts';
import { pickMethods, type EvalMethod } from './eval-methods.ts';

describe('eval --methods', () => {
  it('compares ti, dti and p-plus in one table and one plot, beside the baselines', async () => {
    const out = mkdtempSync(join(tmpdir(), 'pw-eval-methods-'));
    try {
      const args = ['--concepts', 'bullseye', '--samples', '1', '--steps', '2', '--ddim-steps', '2', '--vectors', '1'];
      const { out: table } = await captureOutput(() =>
        evalCommand([...args, '--methods', 'ti,dti,p-plus', '--out', out]),
      );
      const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
      expect(results.rows.map((r: EvalRow) => r.method)).toEqual([
        'real-images',
        'ti-1v',
        'dti-1v',
        'p-plus-1v',
        'init-word',
        'hand-caption',
      ]);
      for (const m of ['ti-1v', 'dti-1v', 'p-plus-1v']) expect(table).toContain(m);
      const svg = readFileSync(join(out, 'tradeoff.svg'), 'utf8');
      for (const m of ['ti-1v', 'dti-1v', 'p-plus-1v', 'init-word']) expect(svg).toContain(m);
      for (const d of ['bullseye-1v', 'bullseye-1v-dti', 'bullseye-1v-p-plus'])
        expect(existsSync(join(out, 'embeddings', d, 'learned_embeds.safetensors'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses an unknown method naming the known ones, and takes a method plugged in', () => {
    expect(() => pickMethods(['ti', 'lora'])).toThrow("unknown inversion method 'lora' (known: ti, dti, p-plus)");
    const pivotal: EvalMethod = async () => ({ word: 'x', embeddings: [] });
    expect(pickMethods(['pivotal', 'ti', 'pivotal'], { pivotal, ti: pivotal })).toEqual(['pivotal', 'ti']);
  });
});
