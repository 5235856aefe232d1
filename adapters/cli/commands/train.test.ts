/**
 * The train command as a user runs it, in a child process on tiny: Ctrl-C and --resume, a folder that already
 * holds a run, and what it reports about the data before the first step.
 */
import { describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dir, '../../..');
const main = join(root, 'adapters/cli/main.ts');
const tmp = () => mkdtempSync(join(tmpdir(), 'pseudoword-train-cli-'));

/** A folder with the first `n` images of the ringed-star example and their captions. */
const concept = (n: number) => {
  const dir = tmp();
  for (let k = 1; k <= n; k++)
    for (const ext of ['png', 'txt'])
      copyFileSync(join(root, 'examples/concepts/ringed-star', `${k}.${ext}`), join(dir, `${k}.${ext}`));
  return dir;
};
const args = (images: string, out: string, ...rest: string[]) => [
  'train',
  ...['--images', images, '--token', '<rs>', '--init', 'star', '--validate-every', '0', '--out', out],
  ...rest,
];
const train = (...a: string[]) => {
  const p = Bun.spawnSync([process.execPath, main, ...a], { cwd: root, stdout: 'pipe', stderr: 'pipe' });
  return { code: p.exitCode, err: p.stderr.toString() };
};
const stateStep = (out: string) => JSON.parse(readFileSync(join(out, 'training-state.json'), 'utf8')).step;
const embedding = (out: string) => readFileSync(join(out, 'learned_embeds.safetensors'));

describe('pseudoword train', () => {
  test('Ctrl-C saves the step it stops at and says so, and --resume ends byte for byte where an uninterrupted run ends', async () => {
    const images = concept(3);
    const out = tmp();
    const run = ['--steps', '30', '--save-every', '0'];
    const p = Bun.spawn([process.execPath, main, ...args(images, out, ...run)], {
      cwd: root,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const reader = p.stderr.getReader();
    let err = '';
    const readUntil = async (done: (s: string) => boolean) => {
      while (!done(err)) {
        const r = await reader.read();
        if (r.done) return;
        err += new TextDecoder().decode(r.value);
      }
    };
    // Off a terminal the progress bar prints a line per tenth: step 3 of 30 is done when this one comes.
    await readUntil((s) => s.includes('training 3/30'));
    p.kill('SIGINT');
    await readUntil(() => false);
    expect(await p.exited).toBe(130);
    const step = Number(/saved step (\d+) — continue with --resume/.exec(err)?.[1]);
    expect(step).toBeGreaterThanOrEqual(3);
    expect(step).toBeLessThan(30);
    // --save-every 0 writes nothing before the end: these files are the stop's own checkpoint.
    expect(stateStep(out)).toBe(step);
    expect(existsSync(join(out, `learned_embeds-steps-${step}.safetensors`))).toBe(true);

    const resumed = train(...args(images, out, ...run, '--resume'));
    expect(resumed.code).toBe(0);
    expect(resumed.err).toContain(`resuming from step ${step} of 30`);
    const reference = tmp();
    expect(train(...args(images, reference, ...run)).code).toBe(0);
    expect(embedding(out)).toEqual(embedding(reference));
    // …and the bytes compared are the trained ones, not those of the step the run stopped at.
    expect(embedding(out)).not.toEqual(readFileSync(join(out, `learned_embeds-steps-${step}.safetensors`)));
  });

  test('refuses to train into a folder holding a run unless told to --resume or --overwrite, which deletes only the run files', () => {
    const images = concept(3);
    const out = tmp();
    expect(train(...args(images, out, '--steps', '2', '--save-every', '1')).code).toBe(0);
    writeFileSync(join(out, 'notes.txt'), 'not the run’s');
    const refused = train(...args(images, out, '--steps', '2'));
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(
      `--out '${out}' already holds a training run (at step 2): pass --resume to continue it, or --overwrite to start over`,
    );
    const both = train(...args(images, out, '--resume', '--overwrite'));
    expect(both.code).toBe(2);
    // Step 1's per-step copy, the latest embedding and the state go; the user's notes stay.
    const again = train(...args(images, out, '--steps', '1', '--overwrite'));
    expect(again.code).toBe(0);
    expect(again.err).toContain('--overwrite: removed 3 files');
    expect(readdirSync(out).sort()).toEqual(['learned_embeds.safetensors', 'notes.txt', 'training-state.json']);
    expect(stateStep(out)).toBe(1);
  });

  test('says what it found, and warns of too few images and of a caption longer than the text encoder reads', () => {
    const images = concept(2);
    // 'a <rs>' and 20 × 'on a red background', all one token each in tiny: 82 tokens, of which 75 are read.
    writeFileSync(join(images, '1.txt'), `a {} ${'on a red background '.repeat(20)}`);
    const r = train(...args(images, tmp(), '--steps', '1', '--captions'));
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'found 2 images, 2 with captions (used as prompts); each mirrored with probability 0.5; 1 step',
    );
    expect(r.err).toContain('warning: 2 images; textual inversion wants 3–5');
    expect(r.err).toContain(
      "warning: the caption of 1.png is 82 tokens; the text encoder reads the first 75, so this is cut: 'a red background on a red background'",
    );
  });
});
