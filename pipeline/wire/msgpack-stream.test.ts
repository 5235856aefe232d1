import { describe, expect, it } from 'bun:test';
import { decode, encode } from '@msgpack/msgpack';
import { Observable, Subject, from, throwError, concat } from 'rxjs';
import { PipelineError } from '../../common/errors.ts';
import { tensorToWire, type Frame } from '../../common/frames.ts';
import { float32 } from '../../common/tensor.ts';
import { decodeFrames, encodeFrames } from './msgpack-stream.ts';

const preview = (step: number): Frame => ({
  type: 'preview',
  runId: 'r',
  step,
  of: 100,
  kind: 'x0',
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array([step, 0, 0, 255]),
});
const progress = (step: number): Frame => ({
  type: 'progress',
  runId: 'r',
  step,
  of: 100,
  phase: 'denoise',
  elapsedMs: step,
});
const loss = (step: number): Frame => ({
  type: 'loss',
  runId: 'r',
  step,
  loss: 1 / step,
  lr: 5e-3,
  gradNorm: 0.5,
  embeddingNorm: 0.4,
});
const latent = (step: number): Frame => ({
  type: 'latent',
  runId: 'r',
  step,
  of: 100,
  timestep: 1000 - step,
  tensor: tensorToWire(float32([2, 2], [step, -1, 0.5, 1e-7])),
});
const done: Frame = { type: 'done', runId: 'r', summary: { steps: 100 } };

const collect = async (s: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>) => {
  const out: Frame[] = [];
  for await (const f of decodeFrames(s)) out.push(f);
  return out;
};
const label = (f: Frame) => `${f.type}@${'step' in f ? f.step : ''}`;

/** A source that counts its subscriptions and teardowns and can be driven by hand. */
const watched = () => {
  const counts = { subscribed: 0, tornDown: 0 };
  const subject = new Subject<Frame>();
  const source = new Observable<Frame>((sub) => {
    counts.subscribed++;
    const s = subject.subscribe(sub);
    return () => {
      counts.tornDown++;
      s.unsubscribe();
    };
  });
  return { counts, subject, source };
};

describe('encodeFrames / decodeFrames', () => {
  it('streams every frame of a finite run in order, one msgpack object per chunk', async () => {
    const frames = [latent(1), loss(1), preview(1), done];
    const chunks: Uint8Array[] = [];
    const reader = encodeFrames(from(frames)).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    // A synchronous source has produced everything before the first read, so the latest-wins rule applies but
    // there is exactly one frame per droppable key here: nothing is dropped.
    expect(chunks.map((c) => decode(c))).toEqual(frames);
    expect(await collect(encodeFrames(from(frames)))).toEqual(frames);
  });

  it('decodes frames split across arbitrary chunk boundaries', async () => {
    const frames = [latent(3), loss(2), done];
    const bytes = new Uint8Array(frames.flatMap((f) => [...encode(f)]));
    async function* oneByteAtATime() {
      for (const b of bytes) yield new Uint8Array([b]);
    }
    expect(await collect(oneByteAtATime())).toEqual(frames);
  });

  it('gives a slow consumer every loss and done frame but only the newest pending previews', async () => {
    const { subject, source } = watched();
    const reader = encodeFrames(source).getReader();
    const got: Frame[] = [];
    const readOne = async () => {
      const { value, done: end } = await reader.read();
      if (!end) got.push(decode(value) as Frame);
      return end;
    };
    for (let step = 1; step <= 100; step++) {
      subject.next(preview(step));
      subject.next(progress(step));
      if (step % 10 === 0) subject.next(loss(step));
      if (step % 25 === 0) await readOne(); // the consumer reads one frame every 25 steps
    }
    subject.next(done);
    subject.complete();
    while (!(await readOne()));

    expect(got.filter((f) => f.type === 'loss').map(label)).toEqual(
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((s) => `loss@${s}`),
    );
    expect(got.at(-1)).toEqual(done);
    const previews: Frame[] = got.filter((f) => f.type === 'preview');
    expect(previews.length).toBeLessThan(10);
    expect(previews.at(-1)).toEqual(preview(100));
    // What came out is in step order: a replaced preview never overtakes an older loss.
    const steps = got.filter((f) => f.type !== 'done').map((f) => ('step' in f ? f.step : 0));
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
  });

  it('with keepAll gives a slow consumer every frame, droppable ones too, in order', async () => {
    const { subject, source } = watched();
    const stream = encodeFrames(source, { keepAll: true });
    for (let step = 1; step <= 50; step++) subject.next(preview(step));
    subject.next(done);
    subject.complete();
    const got = await collect(stream);
    expect(got).toEqual([...Array.from({ length: 50 }, (_, i) => preview(i + 1)), done]);
  });

  it('holds one pending preview, not a queue, while nobody reads', async () => {
    const { subject, source } = watched();
    const stream = encodeFrames(source);
    for (let step = 1; step <= 10_000; step++) subject.next(preview(step));
    subject.complete();
    expect(await collect(stream)).toEqual([preview(10_000)]);
  });

  it('unsubscribes the source when the stream is cancelled', async () => {
    const { counts, subject, source } = watched();
    const reader = encodeFrames(source).getReader();
    subject.next(loss(1));
    await reader.read();
    const pending = reader.read(); // a read waiting on the source when the consumer leaves
    expect(counts).toEqual({ subscribed: 1, tornDown: 0 });
    await reader.cancel('client went away');
    expect(counts).toEqual({ subscribed: 1, tornDown: 1 });
    expect((await pending).done).toBe(true);
    expect(subject.observed).toBe(false);
  });

  it('unsubscribes the source and ends the stream when the signal aborts', async () => {
    const { counts, subject, source } = watched();
    const ac = new AbortController();
    const reader = encodeFrames(source, { signal: ac.signal }).getReader();
    subject.next(loss(1));
    expect(decode((await reader.read()).value!)).toEqual(loss(1));
    const pending = reader.read();
    ac.abort();
    expect((await pending).done).toBe(true);
    expect(counts.tornDown).toBe(1);
  });

  it('never subscribes when the signal is already aborted', async () => {
    const { counts, source } = watched();
    const ac = new AbortController();
    ac.abort();
    expect(await collect(encodeFrames(source, { signal: ac.signal }))).toEqual([]);
    expect(counts.subscribed).toBe(0);
  });

  it('ends with an error frame carrying the PipelineError code when the run fails', async () => {
    const run = concat(
      from([loss(1)]),
      throwError(() => new PipelineError('numeric', 'loss is NaN at step 2')),
    );
    expect(await collect(encodeFrames(run))).toEqual([
      loss(1),
      { type: 'error', runId: 'r', code: 'numeric', message: 'loss is NaN at step 2' },
    ]);
  });

  it('stops the run with a cancelled error frame rather than queueing records without limit', async () => {
    let tornDown = false;
    const endless = new Observable<Frame>((sub) => {
      for (let step = 1; !sub.closed; step++) sub.next(loss(step));
      return () => (tornDown = true);
    });
    const frames = await collect(encodeFrames(endless, { maxPending: 5 }));
    expect(frames.map(label)).toEqual(['loss@1', 'loss@2', 'loss@3', 'loss@4', 'loss@5', 'loss@6', 'error@']);
    expect(frames.at(-1)).toMatchObject({ type: 'error', code: 'cancelled', runId: 'r' });
    expect(tornDown).toBe(true);
  });

  it('cancels the byte stream, and so the run, when a decoding consumer stops early', async () => {
    const { counts, subject, source } = watched();
    const stream = encodeFrames(source);
    subject.next(loss(1));
    subject.next(loss(2));
    for await (const f of decodeFrames(stream)) {
      expect(f).toEqual(loss(1));
      break;
    }
    expect(counts.tornDown).toBe(1);
  });

  it('rejects a well-formed msgpack value that is not a frame', async () => {
    async function* chunks() {
      yield encode({ type: 'done', runId: 'r' });
    }
    await expect(collect(chunks())).rejects.toThrow('bad done frame: summary:');
  });
});
