import { describe, expect, it } from 'bun:test';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, Subject, toArray } from 'rxjs';
import type { Frame } from '../common/frames.ts';
import { encodeLogEntry } from '../pipeline/runs/run-log.ts';
import { createRunRegistry } from '../pipeline/runs/run-registry.ts';
import { diskRunStore } from './run-store.ts';

const loss = (step: number): Frame => ({ type: 'loss', runId: 'r1', step, loss: 1 / step, lr: 1e-3, gradNorm: 1 });
const preview = (step: number): Frame => ({
  type: 'preview',
  runId: 'r1',
  step,
  of: 9,
  kind: 'noised',
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array([step, 1, 2, 255]),
});
const framesOf = (runs: ReturnType<typeof createRunRegistry>, id: string) =>
  lastValueFrom(runs.attach(id).pipe(toArray()));
const deadPid = 2 ** 30; // above any pid_max: no process has it

describe('the run store on disk', () => {
  it('survives a torn last append: the whole entries load, the tail is cut, and later appends read back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pseudoword-store-'));
    const runs = createRunRegistry({ store: diskRunStore(root) });
    const source = new Subject<Frame>();
    runs.start('train', 'r1', source, { token: '<t>' }, { request: { token: '<t>' } });
    source.next(loss(1));
    source.next(loss(2));
    const log = join(root, 'r1', 'frames.log');
    const whole = statSync(log).size;
    // A kill -9 in the middle of writing step 3's entry: half of it reached the file.
    const torn = encodeLogEntry({ seq: 2, frame: loss(3) });
    appendFileSync(log, torn.subarray(0, torn.length >> 1));

    const again = createRunRegistry({ store: diskRunStore(root) });
    expect(statSync(log).size).toBe(whole);
    expect(again.get('r1')!.status()).toMatchObject({ status: 'interrupted', step: 2, meta: { token: '<t>' } });
    expect((await framesOf(again, 'r1')).slice(0, -1)).toEqual([loss(1), loss(2)]);
    const resumed = new Subject<Frame>();
    again.resume!('r1', resumed);
    resumed.next(loss(3));
    resumed.complete();

    const third = createRunRegistry({ store: diskRunStore(root) });
    expect(third.get('r1')!.status()).toMatchObject({ status: 'done', step: 3, resumes: 1 });
    expect(await framesOf(third, 'r1')).toEqual([loss(1), loss(2), loss(3)]);
  });

  it('writes the latest preview lazily, and at once when the run ends', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pseudoword-store-'));
    const store = diskRunStore(root, { flushMs: 20 });
    const runs = createRunRegistry({ store });
    const source = new Subject<Frame>();
    runs.start('train', 'r1', source);
    for (let s = 1; s <= 50; s++) source.next(preview(s));
    expect(existsSync(join(root, 'r1', 'latest.log'))).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect((await framesOf(createRunRegistry({ store: diskRunStore(root) }), 'r1'))[0]).toEqual(preview(50));
    source.next(preview(51));
    source.next(loss(1));
    source.complete(); // the record is written, and the pending preview with it
    expect(await framesOf(createRunRegistry({ store: diskRunStore(root) }), 'r1')).toEqual([preview(51), loss(1)]);
    store.close();
  });

  it('removes temp files of dead writers, skips folders that are not runs, and keeps a record a torn write spared', () => {
    const root = mkdtempSync(join(tmpdir(), 'pseudoword-store-'));
    const runs = createRunRegistry({ store: diskRunStore(root) });
    runs.cancel(runs.start('generate', 'g1', new Subject<Frame>()).id);
    // Killed while replacing run.json: the temp file is half-written, run.json itself is the old, whole one.
    writeFileSync(join(root, 'g1', `run.json.tmp-${deadPid}-1`), '{"id":"g1","kind":');
    writeFileSync(join(root, 'g1', `run.json.tmp-${process.ppid}-1`), 'a live writer');
    for (const junk of ['.hidden', 'no json']) writeFileSync(join(root, junk), 'x');
    const again = createRunRegistry({ store: diskRunStore(root) });
    expect(again.list().map((r) => [r.id, r.status().status])).toEqual([['g1', 'cancelled']]);
    expect(readdirSync(join(root, 'g1')).sort()).toEqual(['frames.log', 'run.json', `run.json.tmp-${process.ppid}-1`]);
  });
});
