/**
 * A registry over a store, restarted: an in-memory store that keeps what a disk would (the record as JSON, the
 * frames as log bytes) and can "die" — stop taking writes at once, as a killed process does — so a second registry
 * built over the same store sees exactly what a restarted server would.
 */
import { describe, expect, it } from 'bun:test';
import { lastValueFrom, Subject, toArray } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import type { HistoryEntry } from './run-history.ts';
import { decodeLog, encodeLog, encodeLogEntry } from './run-log.ts';
import { createRunRegistry } from './run-registry.ts';
import type { RunRecord, RunStore } from './run-store.ts';

const memoryStore = () => {
  const records = new Map<string, string>();
  const logs = new Map<string, Uint8Array>();
  const latest = new Map<string, Map<string, HistoryEntry>>();
  let dead = false;
  const alive = () => !dead;
  const store: RunStore & { kill(): void; revive(): void; logBytes(id: string): number; ids(): string[] } = {
    load: () =>
      [...records.entries()].map(([id, json]) => ({
        record: JSON.parse(json) as RunRecord,
        entries: [...decodeLog(logs.get(id) ?? new Uint8Array()).entries, ...(latest.get(id)?.values() ?? [])],
      })),
    putRecord: (r) => void (alive() && records.set(r.id, JSON.stringify(r))),
    appendRecord(id, e) {
      if (alive()) {
        const [was, more] = [logs.get(id) ?? new Uint8Array(), encodeLogEntry(e)];
        const next = new Uint8Array(was.length + more.length);
        next.set(was);
        next.set(more, was.length);
        logs.set(id, next);
      }
      return logs.get(id)?.length ?? 0;
    },
    putLatest(id, key, e) {
      if (!alive()) return;
      if (!latest.has(id)) latest.set(id, new Map());
      latest.get(id)!.set(key, e);
    },
    rewrite(id, es) {
      if (alive()) logs.set(id, encodeLog(es));
      return logs.get(id)?.length ?? 0;
    },
    flush: () => {},
    remove(id) {
      records.delete(id);
      logs.delete(id);
      latest.delete(id);
    },
    kill: () => void (dead = true),
    revive: () => void (dead = false),
    logBytes: (id) => logs.get(id)?.length ?? 0,
    ids: () => [...records.keys()],
  };
  return store;
};

/** The same store, taking writes again: what a new process finds on disk. */
const reopened = (s: ReturnType<typeof memoryStore>): RunStore => {
  s.revive();
  return s;
};

const progress = (step: number): Frame => ({
  type: 'progress',
  runId: 'r1',
  step,
  of: 9,
  phase: 'train',
  elapsedMs: 1,
});
const loss = (step: number): Frame => ({ type: 'loss', runId: 'r1', step, loss: 1 / step, lr: 1e-3, gradNorm: 1 });
const preview = (step: number): Frame => ({
  type: 'preview',
  runId: 'r1',
  step,
  of: 9,
  kind: 'x0',
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array([step, 0, 0, 255]),
});
const checkpoint = (step: number): Frame => ({
  type: 'checkpoint',
  runId: 'r1',
  step,
  files: [`/o/learned_embeds-steps-${step}.safetensors`, '/o/learned_embeds.safetensors', '/o/training-state.json'],
});
const framesOf = (runs: ReturnType<typeof createRunRegistry>, id: string) =>
  lastValueFrom(runs.attach(id).pipe(toArray()));

describe('a registry with a store, restarted', () => {
  it('lists finished runs as they ended and a running one as interrupted, and replays their frames', async () => {
    let t = 1_000;
    const store = memoryStore();
    const runs = createRunRegistry({ store, now: () => (t += 1000) });
    runs.start('generate', 'g1', new Subject<Frame>().asObservable(), { prompt: 'x' }, { request: { prompt: 'x' } });
    runs.cancel('g1');
    const source = new Subject<Frame>();
    runs.start('train', 'r1', source, { token: '<t>' }, { request: { token: '<t>' } });
    for (const f of [progress(0), loss(1), preview(1), loss(2), checkpoint(2), progress(2), loss(3), preview(3)])
      source.next(f);
    store.kill(); // kill -9: nothing after this reaches the disk
    source.next(loss(4));

    const again = createRunRegistry({ store: reopened(store), now: () => 99_000 });
    expect(again.list().map((r) => r.id)).toEqual(['g1', 'r1']);
    expect(again.get('g1')!.status()).toMatchObject({ status: 'cancelled', kind: 'generate', meta: { prompt: 'x' } });
    const r1 = again.get('r1')!;
    expect(r1.ended).toBe(true);
    expect(r1.status()).toMatchObject({
      status: 'interrupted',
      step: 3,
      loss: 1 / 3,
      files: (checkpoint(2) as { files: string[] }).files,
      embedding: '/o/learned_embeds.safetensors',
      error: { code: 'interrupted' },
      createdAt: new Date(4_000).toISOString(), // g1 took 2 000 (start) and 3 000 (end)
      endedAt: new Date(99_000).toISOString(),
      meta: { token: '<t>' },
    });
    expect(again.record!('r1')).toMatchObject({ id: 'r1', kind: 'train', request: { token: '<t>' } });
    // Records in order, the latest preview and progress where they happened, then the interruption.
    const replay = await framesOf(again, 'r1');
    expect(replay.slice(0, -1)).toEqual([loss(1), loss(2), checkpoint(2), progress(2), loss(3), preview(3)]);
    expect(replay.at(-1)).toMatchObject({ type: 'error', code: 'interrupted', runId: 'r1' });
    // A third start reads the interrupted run the same, its end time unchanged.
    const third = createRunRegistry({ store: reopened(store), now: () => 500_000 });
    expect(third.get('r1')!.status().endedAt).toBe(new Date(99_000).toISOString());
  });

  it('resumes an ended run under its id: one history, counting on, the interruption dropped, stored again', async () => {
    const store = memoryStore();
    const runs = createRunRegistry({ store });
    const first = new Subject<Frame>();
    runs.start('train', 'r1', first, {}, { request: {} });
    for (const f of [loss(1), loss(2), checkpoint(2), loss(3)]) first.next(f);
    store.kill();

    const again = createRunRegistry({ store: reopened(store) });
    const running = new Subject<Frame>();
    expect(() => runs.resume!('r1', running)).toThrow(expect.objectContaining({ code: 'conflict' }));
    expect(() => again.resume!('nope', running)).toThrow(expect.objectContaining({ code: 'not_found' }));
    const second = new Subject<Frame>();
    const run = again.resume!('r1', second);
    expect(run.status()).toMatchObject({ status: 'running', step: 3, resumes: 1 });
    expect(run.status().error).toBeUndefined();
    expect(again.get('r1')).toBe(run);
    const live = lastValueFrom(run.attach().pipe(toArray()));
    for (const f of [loss(3), loss(4), checkpoint(4), { type: 'done', runId: 'r1', summary: { steps: 4 } } as Frame])
      second.next(f);
    second.complete();
    const expected = [loss(1), loss(2), checkpoint(2), loss(3), loss(3), loss(4), checkpoint(4)];
    expect((await live).slice(0, -1)).toEqual(expected);
    expect(run.status()).toMatchObject({ status: 'done', step: 4, summary: { steps: 4 } });

    const third = createRunRegistry({ store: reopened(store) });
    expect(third.get('r1')!.status()).toMatchObject({ status: 'done', step: 4, resumes: 1 });
    expect((await framesOf(third, 'r1')).slice(0, -1)).toEqual(expected);
  });

  it('keeps the stored log within about twice the bounded history, and reads the same history back', async () => {
    const store = memoryStore();
    const runs = createRunRegistry({ store, maxPerType: 64, compactBytes: 4096 });
    const source = new Subject<Frame>();
    runs.start('train', 'r1', source);
    let most = 0;
    for (let s = 1; s <= 5000; s++) {
      source.next(loss(s));
      most = Math.max(most, store.logBytes('r1'));
    }
    source.complete();
    const kept = await framesOf(runs, 'r1');
    const perEntry = encodeLogEntry({ seq: 5000, frame: loss(5000) }).length;
    expect(kept.length).toBeLessThanOrEqual(64);
    expect(most).toBeLessThanOrEqual(Math.max(4096, 2 * 64 * perEntry) + perEntry);
    const again = createRunRegistry({ store: reopened(store), maxPerType: 64 });
    expect(await framesOf(again, 'r1')).toEqual(kept);
  });

  it('forgets in the store the runs it prunes, and a new run under an old id starts a fresh record', () => {
    const store = memoryStore();
    const runs = createRunRegistry({ store, maxFinished: 2 });
    for (const id of ['a', 'b', 'c']) runs.cancel(runs.start('generate', id, new Subject<Frame>()).id);
    expect(store.ids()).toEqual(['b', 'c']);
    const s = new Subject<Frame>();
    runs.start('train', 'c', s);
    expect(store.logBytes('c')).toBe(0);
    s.next(loss(1));
    expect(store.logBytes('c')).toBe(encodeLogEntry({ seq: 0, frame: loss(1) }).length);
  });

  it('goes on in memory when the store fails, and says so', async () => {
    const errors: unknown[] = [];
    const failing: RunStore = {
      ...memoryStore(),
      appendRecord: () => {
        throw new Error('disk full');
      },
    };
    const runs = createRunRegistry({ store: failing, onStoreError: (e) => errors.push(e) });
    const source = new Subject<Frame>();
    runs.start('train', 'r1', source);
    source.next(loss(1));
    source.complete();
    expect(await framesOf(runs, 'r1')).toEqual([loss(1)]);
    expect(runs.get('r1')!.status().status).toBe('done');
    expect(errors).toEqual([new Error('disk full')]);
  });
});
