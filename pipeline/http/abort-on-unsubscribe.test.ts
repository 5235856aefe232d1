import { describe, expect, it } from 'bun:test';
import { TestScheduler } from 'rxjs/testing';
import { abortOnUnsubscribe } from './abort-on-unsubscribe.ts';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('abortOnUnsubscribe', () => {
  it('aborts when the consumer unsubscribes before the source ends', () => {
    const ac = new AbortController();
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-|');
      expectObservable(source.pipe(abortOnUnsubscribe(ac)), '^--!').toBe('-a-');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    expect(ac.signal.aborted).toBe(true);
    expect((ac.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('does not abort when the source completes', () => {
    const ac = new AbortController();
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-|').pipe(abortOnUnsubscribe(ac))).toBe('-a-|');
    });
    expect(ac.signal.aborted).toBe(false);
  });

  it('does not abort when the source errors', () => {
    const ac = new AbortController();
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-#', undefined, 'boom').pipe(abortOnUnsubscribe(ac))).toBe('-a-#', undefined, 'boom');
    });
    expect(ac.signal.aborted).toBe(false);
  });
});
