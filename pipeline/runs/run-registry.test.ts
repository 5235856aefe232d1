import { describe, expect, it } from 'bun:test';
import { Observable, Subject, concat, from, throwError, toArray, lastValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { PipelineError } from '../../common/errors.ts';
import type { Frame } from '../../common/frames.ts';
import { createRunRegistry } from './run-registry.ts';

const progress = (step: number, of = 9): Frame => ({
  type: 'progress',
  runId: 'r1',
  step,
  of,
  phase: 'train',
  elapsedMs: step,
});
const loss = (step: number, value = 0.5): Frame => ({
  type: 'loss',
  runId: 'r1',
  step,
  loss: value,
  lr: 1e-3,
  gradNorm: 1,
  embeddingNorm: 1,
});
const preview = (step: number): Frame => ({
  type: 'preview',
  runId: 'r1',
  step,
  of: 9,
  kind: 'x0',
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array(4),
});
const checkpoint = (step: number): Frame => ({
  type: 'checkpoint',
  runId: 'r1',
  step,
  files: [`/o/learned_embeds-steps-${step}.safetensors`, '/o/learned_embeds.safetensors', '/o/training-state.json'],
});
const done: Frame = { type: 'done', runId: 'r1', summary: { steps: 3 } };

/** A source driven by hand that counts subscriptions and teardowns. */
const handSource = () => {
  const subject = new Subject<Frame>();
  const seen = { subscribed: 0, tornDown: 0 };
  const source = new Observable<Frame>((sub) => {
    seen.subscribed++;
    const s = subject.subscribe(sub);
    return () => {
      seen.tornDown++;
      s.unsubscribe();
    };
  });
  return { subject, seen, source };
};

const collect = (o: Observable<Frame>) => {
  const got: Frame[] = [];
  let completed = false;
  const sub = o.subscribe({ next: (f) => got.push(f), complete: () => (completed = true) });
  return {
    got,
    sub,
    get completed() {
      return completed;
    },
  };
};

describe('createRunRegistry', () => {
  it('runs a source without any reader and tracks its status', () => {
    const runs = createRunRegistry({ now: () => 0 });
    const { subject, seen, source } = handSource();
    const run = runs.start('train', 'r1', source, { token: '<t>' });
    expect(seen.subscribed).toBe(1);
    subject.next(progress(0, 3));
    subject.next(loss(1, 0.25));
    subject.next(checkpoint(1));
    subject.next({ type: 'progress', runId: 'r1', step: 2, of: 20, phase: 'validate', elapsedMs: 0 }); // a validation sample's, not the run's
    expect(run.status()).toEqual({
      id: 'r1',
      kind: 'train',
      status: 'running',
      createdAt: new Date(0).toISOString(),
      step: 1,
      of: 3,
      loss: 0.25,
      files: ['/o/learned_embeds-steps-1.safetensors', '/o/learned_embeds.safetensors', '/o/training-state.json'],
      embedding: '/o/learned_embeds.safetensors',
      meta: { token: '<t>' },
    });
    subject.next(done);
    subject.complete();
    expect(run.ended).toBe(true);
    expect(run.status()).toMatchObject({ status: 'done', summary: { steps: 3 }, endedAt: new Date(0).toISOString() });
  });

  it('replays records and only the latest droppable frames, in the order they happened, then follows live', () => {
    const runs = createRunRegistry();
    const { subject, source } = handSource();
    runs.start('train', 'r1', source);
    for (const f of [progress(0), preview(1), loss(1), preview(2), loss(2)]) subject.next(f);
    const reader = collect(runs.attach('r1'));
    expect(reader.got).toEqual([progress(0), loss(1), preview(2), loss(2)]);
    subject.next(loss(3));
    subject.next(done);
    expect(reader.completed).toBe(false);
    subject.complete();
    expect(reader.got.slice(4)).toEqual([loss(3), done]);
    expect(reader.completed).toBe(true);
  });

  it('lets a reader leave without stopping the run', () => {
    const runs = createRunRegistry();
    const { subject, seen, source } = handSource();
    const run = runs.start('train', 'r1', source);
    const reader = collect(runs.attach('r1'));
    subject.next(loss(1));
    reader.sub.unsubscribe();
    subject.next(loss(2));
    expect(seen.tornDown).toBe(0);
    expect(run.status().step).toBe(2);
  });

  it('gives a reader attaching after the end the whole kept history and completes it', async () => {
    const runs = createRunRegistry();
    runs.start('generate', 'g', from([progress(1), progress(2), loss(1), done]));
    expect(await lastValueFrom(runs.attach('g').pipe(toArray()))).toEqual([progress(2), loss(1), done]);
  });

  it('cancels by unsubscribing the source and ends with a cancelled error frame', () => {
    const runs = createRunRegistry();
    const { subject, seen, source } = handSource();
    runs.start('train', 'r1', source);
    const reader = collect(runs.attach('r1'));
    subject.next(loss(1));
    const status = runs.cancel('r1', 'stop, please');
    expect(seen.tornDown).toBe(1);
    expect(subject.observed).toBe(false);
    expect(status).toMatchObject({
      status: 'cancelled',
      step: 1,
      error: { code: 'cancelled', message: 'stop, please' },
    });
    expect(reader.got.at(-1)).toEqual({ type: 'error', runId: 'r1', code: 'cancelled', message: 'stop, please' });
    expect(reader.completed).toBe(true);
    expect(runs.cancel('r1')).toMatchObject({ status: 'cancelled' }); // a second cancel changes nothing
    expect(runs.cancel('nope')).toBeUndefined();
  });

  it('turns a failing source into an error frame and a failed status', () => {
    const runs = createRunRegistry();
    const run = runs.start(
      'train',
      'r1',
      concat(
        from([loss(1)]),
        throwError(() => new PipelineError('numeric', 'loss is NaN')),
      ),
    );
    expect(run.status()).toMatchObject({ status: 'failed', error: { code: 'numeric', message: 'loss is NaN' } });
    const last = run.after(run.after(-1)!.seq)!.frame;
    expect(last).toEqual({ type: 'error', runId: 'r1', code: 'numeric', message: 'loss is NaN' });
  });

  it('refuses a second run under the id of one still going, and attaching to an unknown id', () => {
    const runs = createRunRegistry();
    runs.start('train', 'r1', handSource().source);
    expect(() => runs.start('train', 'r1', from([]))).toThrow(PipelineError);
    expect(() => runs.attach('nope')).toThrow("no run 'nope'");
  });

  it('keeps only the newest finished runs, and never drops a running one', () => {
    let t = 0;
    const runs = createRunRegistry({ maxFinished: 2, now: () => t++ });
    runs.start('train', 'live', handSource().source);
    for (const id of ['a', 'b', 'c']) runs.start('generate', id, from([done]));
    expect(runs.list().map((r) => r.id)).toEqual(['live', 'b', 'c']);
  });

  it('keeps memory bounded: thins old loss frames and drops old validation images', () => {
    const runs = createRunRegistry({ maxPerType: 100, maxImageBytes: 1000 });
    const { subject, source } = handSource();
    const run = runs.start('train', 'r1', source);
    for (let s = 1; s <= 1000; s++) subject.next(loss(s));
    for (let s = 1; s <= 5; s++)
      subject.next({
        type: 'validation',
        runId: 'r1',
        step: s,
        loss: s,
        images: [{ width: 1, height: 1, png: new Uint8Array(300) }],
      });
    const frames: Frame[] = [];
    run
      .attach()
      .subscribe((f) => frames.push(f))
      .unsubscribe();
    const steps = frames.filter((f) => f.type === 'loss').map((f) => (f as { step: number }).step);
    expect(steps.length).toBeLessThanOrEqual(100);
    expect(steps.length).toBeGreaterThan(25);
    expect(steps[0]).toBe(1);
    expect(steps.at(-1)).toBe(1000); // the newest always stays, and the span stays whole
    const validations = frames.filter((f) => f.type === 'validation') as Extract<Frame, { type: 'validation' }>[];
    expect(validations.map((v) => v.step)).toEqual([1, 2, 3, 4, 5]);
    expect(validations.map((v) => v.images.length)).toEqual([0, 0, 1, 1, 1]);
    expect(run.status().step).toBe(1000);
  });
});

describe('attach (marbles)', () => {
  it('replays, follows live and completes with the run; the source is subscribed once for the whole run', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(({ cold, expectObservable, expectSubscriptions }) => {
      const values = { a: loss(1), b: loss(2), c: loss(3), d: done };
      const source = cold('a-b-c-(d|)', values);
      const runs = createRunRegistry();
      runs.start('train', 'r1', source);
      expectObservable(runs.attach('r1')).toBe('a-b-c-(d|)', values);
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
  });
});
