import { describe, expect, it } from 'bun:test';
import { Subject } from 'rxjs';
import type { Frame } from '../../common/frames.ts';
import { createRunRegistry } from '../runs/run-registry.ts';
import { decodeFrames } from '../wire/msgpack-stream.ts';
import { runFrameStream, runResponse } from './run-response.ts';

const loss = (step: number): Frame => ({
  type: 'loss',
  runId: 'r',
  step,
  loss: 1 / step,
  lr: 1e-3,
  gradNorm: 1,
  embeddingNorm: 1,
});
const preview = (step: number, kind: 'x0' | 'noised' = 'x0'): Frame => ({
  type: 'preview',
  runId: 'r',
  step,
  of: 100,
  kind,
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array([step, 0, 0, 255]),
});
const checkpoint = (step: number): Frame => ({
  type: 'checkpoint',
  runId: 'r',
  step,
  files: ['/o/learned_embeds.safetensors'],
});
const done: Frame = { type: 'done', runId: 'r', summary: {} };

const started = () => {
  const subject = new Subject<Frame>();
  const runs = createRunRegistry();
  const run = runs.start('train', 'r', subject);
  return { subject, runs, run };
};

describe('runFrameStream', () => {
  it('gives a slow client every record but only the newest previews, in the order they happened', async () => {
    const { subject, run } = started();
    const frames = decodeFrames(runFrameStream(run));
    subject.next(loss(1));
    expect((await frames.next()).value).toEqual(loss(1));
    // The client reads nothing while the run goes on for a long while.
    for (let s = 2; s <= 500; s++) {
      subject.next(preview(s));
      subject.next(preview(s, 'noised'));
      subject.next(loss(s));
      if (s % 100 === 0) subject.next(checkpoint(s));
    }
    subject.next(done);
    subject.complete();
    const rest: Frame[] = [];
    for await (const f of frames) rest.push(f);
    expect(rest.filter((f) => f.type === 'loss').map((f) => (f as { step: number }).step)).toEqual(
      Array.from({ length: 499 }, (_, i) => i + 2),
    );
    expect(rest.filter((f) => f.type === 'checkpoint').map((f) => (f as { step: number }).step)).toEqual([
      100, 200, 300, 400, 500,
    ]);
    expect(rest.filter((f): boolean => f.type === 'preview')).toEqual([preview(500), preview(500, 'noised')]);
    expect(rest.slice(-5)).toEqual([preview(500), preview(500, 'noised'), loss(500), checkpoint(500), done]);
  });

  it('calls onLeave when the client cancels before the run ended, and leaves the run alone otherwise', async () => {
    const { subject, runs, run } = started();
    const body = runFrameStream(run, { onLeave: () => runs.cancel('r') });
    subject.next(loss(1));
    const reader = body.getReader();
    await reader.read();
    await reader.cancel();
    expect(run.status().status).toBe('cancelled');
    expect(subject.observed).toBe(false);
  });

  it('ends the stream when the request signal aborts', async () => {
    const { subject, run } = started();
    const ac = new AbortController();
    const reader = runFrameStream(run, { signal: ac.signal }).getReader();
    subject.next(loss(1));
    await reader.read();
    const pending = reader.read();
    ac.abort();
    expect((await pending).done).toBe(true);
    expect(run.ended).toBe(false); // nobody asked to cancel the run
  });

  it('names the run in x-run-id', () => {
    const { run } = started();
    const res = runResponse(run);
    expect(res.headers.get('x-run-id')).toBe('r');
    expect(res.headers.get('content-type')).toBe('application/vnd.msgpack');
  });
});
