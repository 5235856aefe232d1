import { describe, expect, it } from 'bun:test';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { safeFileName, sweepStaleUploads, uploadStore } from './upload-store.ts';

describe('safeFileName', () => {
  it('keeps only the last segment and safe characters, never a leading dot', () => {
    expect(safeFileName('../../etc/passwd', 'f')).toBe('passwd');
    expect(safeFileName('C:\\photos\\my cat.PNG', 'f')).toBe('my_cat.PNG');
    expect(safeFileName('..', 'f')).toBe('f');
    expect(safeFileName('.hidden', 'f')).toBe('hidden');
    expect(safeFileName('', 'f')).toBe('f');
    expect(safeFileName('猫.png', 'f')).toBe('_.png');
    expect(safeFileName('???', 'f')).toBe('f');
  });

  it('shortens long names but keeps the extension', () => {
    const name = safeFileName(`${'a'.repeat(300)}.webp`, 'f');
    expect(name.length).toBe(100);
    expect(name.endsWith('.webp')).toBe(true);
  });
});

describe('uploadStore', () => {
  it("saves a run's upload to its own folder under the root, with safe and distinct names, and removes it", async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'pseudoword-uploads-')), 'uploads');
    const store = uploadStore(root);
    const dir = await store.save('run-1', [
      { name: '../../escape.png', bytes: new Uint8Array([1]) },
      { name: 'escape.png', bytes: new Uint8Array([2]) },
      { name: 'ESCAPE.png', bytes: new Uint8Array([3]) },
      { name: 'escape.txt', bytes: new TextEncoder().encode('a red disc') },
    ]);
    expect(dirname(dir)).toBe(root);
    expect(readdirSync(dir).sort()).toEqual(['ESCAPE-2.png', 'escape-1.png', 'escape.png', 'escape.txt']);
    expect([...readFileSync(join(dir, 'escape.png'))]).toEqual([1]);
    expect(await store.save('run-2', [{ name: 'x.png', bytes: new Uint8Array(1) }])).not.toBe(dir);
    await store.remove('run-1');
    expect(existsSync(dir)).toBe(false);
  });

  it('sweeps the folders of servers that are no longer running, and keeps its own', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pseudoword-uploads-'));
    const mine = await uploadStore(root).save('live', [{ name: 'a.png', bytes: new Uint8Array(1) }]);
    // A pid far above any the kernel hands out (pid_max is at most 2^22) names a server that is gone.
    mkdirSync(join(root, '99999999-dead-run'));
    expect(await sweepStaleUploads(root)).toBe(1);
    expect(readdirSync(root)).toEqual([basename(mine)]);
  });
});
