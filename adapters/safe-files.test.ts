import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalPath, pathKind, readRegularFile } from './safe-files.ts';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'pseudoword-safe-files-')));
mkdirSync(join(root, 'images/deep'), { recursive: true });
mkdirSync(join(root, 'secret/inner'), { recursive: true });
writeFileSync(join(root, 'secret/key'), 'TOP-SECRET');
writeFileSync(join(root, 'images/cat.safetensors'), new Uint8Array(100));
symlinkSync(join(root, 'secret/inner'), join(root, 'images/deep/up'));
symlinkSync(join(root, 'secret/key'), join(root, 'images/key-link'));
const fifo = join(root, 'images/fifo.pt');
const madeFifo = spawnSync('mkfifo', [fifo]).status === 0;

describe('canonical paths on disk', () => {
  test('resolve a symlink before a following .., as the operating system does', async () => {
    // Lexically images/deep/up/../key is images/deep/key; the kernel goes through the link: secret/key.
    expect(await canonicalPath('images/deep/up/../key', root)).toBe(join(root, 'secret/key'));
    expect(await canonicalPath(join(root, 'images/key-link'))).toBe(join(root, 'secret/key'));
  });

  test('keep the part of a path that does not exist yet as written, after resolving the part that does', async () => {
    expect(await canonicalPath('images/deep/up/new/run', root)).toBe(join(root, 'secret/inner/new/run'));
    expect(await canonicalPath('images/nothing/../cat.safetensors', root)).toBe(join(root, 'images/cat.safetensors'));
  });
});

describe('reading a file a request names', () => {
  test('reads a regular file under its cap and refuses one over it', async () => {
    expect((await readRegularFile(join(root, 'images/cat.safetensors'), 100)).length).toBe(100);
    await expect(readRegularFile(join(root, 'images/cat.safetensors'), 99)).rejects.toMatchObject({
      code: 'too_large',
    });
  });

  test('refuses a FIFO at once instead of blocking on it', async () => {
    if (!madeFifo) return console.warn('skipped: mkfifo is not available here');
    expect(await pathKind(fifo)).toEqual({ kind: 'other' });
    await expect(readRegularFile(fifo, 1000, 'embeddings[0]')).rejects.toMatchObject({
      code: 'bad_request',
      details: { field: 'embeddings[0]' },
    });
  });

  test('does not follow a final symlink, and says nothing of what it points to', async () => {
    const e = await readRegularFile(join(root, 'images/key-link'), 1000).catch((x) => x);
    expect(e).toMatchObject({ code: 'bad_request' });
    expect(String(e.message)).not.toContain('TOP-SECRET');
    await expect(readRegularFile(join(root, 'images/none'), 10)).rejects.toMatchObject({ code: 'not_found' });
  });
});
