import { expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dir, '..', 'stages');
const camel = (file: string) => file.replace(/\.ts$/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

test('every file in stages/ exports the operator factory its name says', async () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  expect(files.length).toBeGreaterThan(10);
  const misnamed: string[] = [];
  for (const f of files) {
    const exported = (await import(join(dir, f)))[camel(f)];
    if (typeof exported !== 'function') misnamed.push(`${f} exports no function ${camel(f)}`);
  }
  expect(misnamed).toEqual([]);
});
