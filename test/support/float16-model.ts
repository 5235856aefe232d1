/**
 * Float16 versions of model folders for tests: the folder converted by our own `float16Folder` (an Optimum
 * `--dtype fp16` export is not available offline, and Debian's torch 1.13 cannot run every op in half on the CPU),
 * written once per process into a temp folder and opened like any other folder.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskModelFiles, writeFiles } from '../../adapters/fs.ts';
import { modelPath } from '../../adapters/open-model.ts';
import { float16Folder } from '../../weights/float16-folder.ts';

const made = new Map<string, Promise<string>>();

/** The folder of `name` (tiny, tiny-xl or a folder path) converted to float16. */
export const float16ModelDir = (name: string): Promise<string> => {
  let p = made.get(name);
  if (!p) {
    p = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pseudoword-fp16-'));
      writeFiles(dir, await float16Folder(diskModelFiles(await modelPath(name))));
      return dir;
    })();
    made.set(name, p);
  }
  return p;
};
