/**
 * What the size benches share: writing a model our builders made (graph + external weights streamed in 64 MiB
 * chunks, the weights renamed into place only when whole) and the process's peak RSS.
 */
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltModel } from '../weights/tiny/built-model.ts';

/** Writes `m` as `<dir>/<sub>/model.onnx` (+ its external data); returns its parameter count. */
export const writeBuiltModel = (dir: string, sub: string, m: BuiltModel): number => {
  mkdirSync(join(dir, sub), { recursive: true });
  if (m.external) {
    const p = join(dir, sub, m.external.location);
    const fd = openSync(`${p}.tmp`, 'w');
    for (const chunk of m.external.chunks(64 << 20)) writeSync(fd, chunk);
    closeSync(fd);
    renameSync(`${p}.tmp`, p);
  }
  writeFileSync(join(dir, sub, 'model.onnx'), m.model);
  return m.parameters;
};

/** The process's peak resident memory in GiB (maxRSS is in KiB). */
export const maxRssGiB = (): number => process.resourceUsage().maxRSS / 2 ** 20;
