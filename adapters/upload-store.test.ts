import { describe, expect, it } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { safeFileName, uploadStore } from './upload-store.ts';

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
  it('saves each upload to a fresh folder under its root, with safe and distinct names', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'pseudoword-uploads-')), 'uploads');
    const store = uploadStore(root);
    const dir = await store.save([
      { name: '../../escape.png', bytes: new Uint8Array([1]) },
      { name: 'escape.png', bytes: new Uint8Array([2]) },
      { name: 'ESCAPE.png', bytes: new Uint8Array([3]) },
      { name: 'escape.txt', bytes: new TextEncoder().encode('a red disc') },
    ]);
    expect(dirname(dir)).toBe(root);
    expect(readdirSync(dir).sort()).toEqual(['ESCAPE-2.png', 'escape-1.png', 'escape.png', 'escape.txt']);
    expect([...readFileSync(join(dir, 'escape.png'))]).toEqual([1]);
    expect(await store.save([{ name: 'x.png', bytes: new Uint8Array(1) }])).not.toBe(dir);
  });
});
