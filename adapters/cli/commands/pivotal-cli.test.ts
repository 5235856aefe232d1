/** `train --method pivotal` and `generate --lora` as a user runs them, in child processes on tiny. */
import { describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dir, '../../..');
const main = join(root, 'adapters/cli/main.ts');
const tmp = () => mkdtempSync(join(tmpdir(), 'pseudoword-pivotal-cli-'));
const cli = (...a: string[]) => {
  const p = Bun.spawnSync([process.execPath, main, ...a], { cwd: root, stdout: 'pipe', stderr: 'pipe' });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

describe('pseudoword train --method pivotal, then generate --lora', () => {
  test('writes the embedding and a kohya LoRA, which generate loads at a scale', () => {
    const images = tmp();
    for (const k of [1, 2])
      copyFileSync(join(root, 'examples/concepts/ringed-star', `${k}.png`), join(images, `${k}.png`));
    const out = tmp();
    const t = cli(
      'train',
      ...['--images', images, '--token', '<rs>', '--init', 'star', '--validate-every', '0', '--out', out],
      ...['--steps', '2', '--method', 'pivotal', '--lora-rank', '2', '--lora-fraction', '1', '--layout', 'kohya'],
    );
    expect(t.err).not.toContain('error');
    expect(t.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['learned_embeds.safetensors', 'lora.safetensors', 'training-state.json']);
    const png = join(out, 'out.png');
    const g = cli(
      'generate',
      ...['--prompt', 'a photo of <rs>', '--steps', '2', '--out', png],
      ...['--embeddings', join(out, 'learned_embeds.safetensors'), '--lora', `${join(out, 'lora.safetensors')}:0.5`],
    );
    expect(g.code).toBe(0);
    expect(existsSync(png)).toBe(true);
  });

  test('names the flag of a bad LoRA setting and the key of a file it cannot load', () => {
    const r = cli(
      'train',
      '--images',
      tmp(),
      '--token',
      '<x>',
      '--init',
      'star',
      '--method',
      'pivotal',
      '--lora-rank',
      '0',
    );
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--lora-rank must be an integer ≥ 1');
    const g = cli(
      'generate',
      '--prompt',
      'a star',
      '--steps',
      '1',
      '--out',
      join(tmp(), 'x.png'),
      '--lora',
      join(root, 'test/fixtures/torch-sd/lora/kohya.safetensors'),
    );
    expect(g.code).not.toBe(0);
    expect(g.err).toContain("key 'lora_unet_attn1_to_k.alpha' names no linear layer of this UNet");
  });
});
