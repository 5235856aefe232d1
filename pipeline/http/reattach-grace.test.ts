import { describe, expect, it } from 'bun:test';
import { Observable, Subject } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { limits } from '../../common/limits.ts';
import { createRunRegistry } from '../runs/run-registry.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { createApp } from './app.ts';
import { reattachGrace, type Schedule } from './reattach-grace.ts';

/** A timer moved by hand: `fire()` runs what is due as if its time had come. */
const manualClock = () => {
  const pending = new Set<{ fn: () => void; ms: number }>();
  const schedule: Schedule = (fn, ms) => {
    const t = { fn, ms };
    pending.add(t);
    return () => pending.delete(t);
  };
  const fire = () => {
    const due = [...pending];
    pending.clear();
    for (const t of due) t.fn();
  };
  return { schedule, fire, pending };
};

describe('reattachGrace', () => {
  it('cancels a tracked run only after its last reader left and the grace period passed with nobody back', () => {
    const clock = manualClock();
    const cancelled: string[] = [];
    const g = reattachGrace({ graceMs: 5000, cancel: (id) => cancelled.push(id), schedule: clock.schedule });
    g.track('r');
    const leaveA = g.reader('r')!;
    const leaveB = g.reader('r')!;
    leaveA();
    expect(clock.pending.size).toBe(0); // B still reads
    leaveB();
    expect([...clock.pending].map((t) => t.ms)).toEqual([5000]);
    expect(cancelled).toEqual([]);
    clock.fire();
    expect(cancelled).toEqual(['r']);
  });

  it('keeps a run whose reader came back within the grace period, and starts over when that one leaves', () => {
    const clock = manualClock();
    const cancelled: string[] = [];
    const g = reattachGrace({ graceMs: 5000, cancel: (id) => cancelled.push(id), schedule: clock.schedule });
    g.track('r');
    g.reader('r')!();
    const leaveAgain = g.reader('r')!; // the reloaded page
    expect(clock.pending.size).toBe(0);
    clock.fire();
    expect(cancelled).toEqual([]);
    leaveAgain();
    clock.fire();
    expect(cancelled).toEqual(['r']);
  });

  it('never cancels a run it does not track, nor one that ended', () => {
    const clock = manualClock();
    const cancelled: string[] = [];
    const g = reattachGrace({ graceMs: 5000, cancel: (id) => cancelled.push(id), schedule: clock.schedule });
    expect(g.reader('train-run')).toBeUndefined();
    g.track('r');
    g.reader('r')!();
    g.ended('r');
    clock.fire();
    expect(cancelled).toEqual([]);
  });
});

describe('a generation over HTTP whose client went away', () => {
  const setup = () => {
    const clock = manualClock();
    const frames = new Subject<Frame>();
    const stopped = { count: 0 };
    const runs = createRunRegistry();
    const app = createApp({
      runs,
      schedule: clock.schedule,
      newRunId: () => 'g1',
      generate: () =>
        new Observable<Frame>((sub) => {
          const s = frames.subscribe(sub);
          return () => {
            stopped.count++;
            s.unsubscribe();
          };
        }),
    });
    const post = (signal: AbortSignal) =>
      app.request('/v1/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"prompt":"a red disc"}',
        signal,
      });
    return { app, runs, clock, frames, stopped, post };
  };
  const progress = (step: number): Frame => ({
    type: 'progress',
    runId: 'g1',
    step,
    of: 9,
    phase: 'denoise',
    elapsedMs: step,
  });

  it('keeps going for the grace period and is followed to its end by a client that re-attaches', async () => {
    const { app, runs, clock, frames, stopped, post } = setup();
    const first = new AbortController();
    const res = await post(first.signal);
    const reader = res.body!.getReader();
    frames.next(progress(1));
    await reader.read();
    first.abort(); // the page is reloaded
    expect(runs.get('g1')!.status().status).toBe('running');
    expect([...clock.pending].map((t) => t.ms)).toEqual([limits.reattachGraceMs]);
    const again = await app.request('/v1/runs/g1/frames');
    clock.fire(); // the grace period runs out while the new page reads
    expect(stopped.count).toBe(0);
    frames.next(progress(2));
    frames.next({ type: 'done', runId: 'g1', summary: {} });
    frames.complete();
    const seen: Frame[] = [];
    for await (const f of decodeFrames(again.body!)) seen.push(f);
    expect(seen.map((f) => f.type)).toEqual(['progress', 'done']);
    expect(runs.get('g1')!.status().status).toBe('done');
  });

  it('is cancelled after the grace period when nobody re-attaches, as an API client that hung up expects', async () => {
    const { runs, clock, frames, stopped, post } = setup();
    const client = new AbortController();
    const res = await post(client.signal);
    const reader = res.body!.getReader();
    frames.next(progress(1));
    await reader.read();
    client.abort();
    expect(stopped.count).toBe(0);
    clock.fire();
    expect(stopped.count).toBe(1);
    expect(runs.get('g1')!.status()).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
  });
});
