import { describe, expect, it } from 'bun:test';
import { TestScheduler } from 'rxjs/testing';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { endWithErrorFrame, errorFrameOf } from './end-with-error-frame.ts';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const done = (runId: string): Frame => ({ type: 'done', runId, summary: {} });

describe('endWithErrorFrame', () => {
  it('passes frames through and completes with the source', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-|', { a: done('r1'), b: done('r1') });
      expectObservable(source.pipe(endWithErrorFrame())).toBe('-a-b-|', { a: done('r1'), b: done('r1') });
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('turns an error into a last error frame carrying the code and the runId seen so far', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('-a-#', { a: done('r7') }, new PipelineError('numeric', 'loss is NaN', { step: 3 }));
      expectObservable(source.pipe(endWithErrorFrame())).toBe('-a-(e|)', {
        a: done('r7'),
        e: { type: 'error', runId: 'r7', code: 'numeric', message: 'loss is NaN', details: { step: 3 } },
      });
    });
  });

  it('uses the fallback runId when the source fails before any frame, and internal for foreign errors', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold<Frame>('--#', {}, new TypeError('boom'));
      expectObservable(source.pipe(endWithErrorFrame('r0'))).toBe('--(e|)', {
        e: { type: 'error', runId: 'r0', code: 'internal', message: 'boom' },
      });
    });
  });

  it('unsubscribes the source when the consumer does', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-a-a-a-|', { a: done('r') });
      expectObservable(source.pipe(endWithErrorFrame()), '^--!').toBe('-a-', { a: done('r') });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('omits runId from an error frame when none is known', () => {
    expect(errorFrameOf(new PipelineError('bad_request', 'no'))).toEqual({
      type: 'error',
      code: 'bad_request',
      message: 'no',
    });
  });
});
