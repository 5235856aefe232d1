import { describe, expect, test } from 'bun:test';
import { Subject } from 'rxjs';
import { runSlots } from './run-slots.ts';

describe('run slots', () => {
  test('run at most maxRuns at once, queue the next ones in order, and refuse past the queue with busy', () => {
    const slots = runSlots({ maxRuns: 1, maxQueued: 1, retryAfterS: 7 });
    const a = new Subject<number>();
    const b = new Subject<number>();
    const seen: string[] = [];
    slots.admit(a).subscribe({ next: (v) => seen.push(`a${v}`) });
    slots.admit(b).subscribe({ next: (v) => seen.push(`b${v}`) });
    let refused: unknown;
    try {
      slots.admit(new Subject<number>());
    } catch (e) {
      refused = e;
    }
    expect(refused).toMatchObject({ code: 'busy', details: { retryAfterS: 7 } });
    expect([slots.running, slots.queued]).toEqual([1, 1]);
    return Promise.resolve().then(async () => {
      a.next(1);
      b.next(1); // b is queued: not subscribed yet, so this value is not seen
      a.complete();
      await Promise.resolve();
      await Promise.resolve();
      b.next(2);
      expect(seen).toEqual(['a1', 'b2']);
      expect([slots.running, slots.queued]).toEqual([1, 0]);
    });
  });

  test('give the slot back when a running run is unsubscribed, and drop a queued one from the queue', async () => {
    const slots = runSlots({ maxRuns: 1, maxQueued: 2 });
    const first = slots.admit(new Subject<number>()).subscribe();
    const queued = slots.admit(new Subject<number>()).subscribe();
    await Promise.resolve();
    expect([slots.running, slots.queued]).toEqual([1, 1]);
    queued.unsubscribe();
    expect([slots.running, slots.queued]).toEqual([1, 0]);
    first.unsubscribe();
    expect([slots.running, slots.queued]).toEqual([0, 0]);
  });
});

describe('run slots for work that is not an Observable', () => {
  test('acquire resolves when a slot is free, rejects with busy past the queue, and gives the slot back once', async () => {
    const slots = runSlots({ maxRuns: 1, maxQueued: 1 });
    const release = await slots.acquire();
    let second: (() => void) | undefined;
    const waiting = slots.acquire().then((r) => (second = r));
    await expect(slots.acquire()).rejects.toMatchObject({ code: 'busy' });
    expect(second).toBeUndefined();
    release();
    release();
    await waiting;
    expect([slots.running, slots.queued]).toEqual([1, 0]);
    second!();
    expect(slots.running).toBe(0);
  });
});
