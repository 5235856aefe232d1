import { describe, expect, it } from 'bun:test';
import type { Frame, PreviewKind } from '../../common/frames.ts';
import { latestWinsQueue } from './latest-wins-queue.ts';

const preview = (step: number, kind: PreviewKind = 'x0'): Frame => ({
  type: 'preview',
  runId: 'r',
  step,
  of: 9,
  kind,
  width: 1,
  height: 1,
  format: 'rgba',
  data: new Uint8Array(4),
});
const progress = (step: number): Frame => ({
  type: 'progress',
  runId: 'r',
  step,
  of: 9,
  phase: 'denoise',
  elapsedMs: step,
});
const loss = (step: number): Frame => ({
  type: 'loss',
  runId: 'r',
  step,
  loss: 1 / step,
  lr: 1e-3,
  gradNorm: 1,
  embeddingNorm: 1,
});
const drain = (q: ReturnType<typeof latestWinsQueue>) => {
  const out: string[] = [];
  for (let f = q.shift(); f; f = q.shift())
    out.push(`${f.type}${f.type === 'preview' ? `:${f.kind}` : ''}@${'step' in f ? f.step : ''}`);
  return out;
};

describe('latestWinsQueue', () => {
  it('hands frames out first in, first out', () => {
    const q = latestWinsQueue();
    q.push(loss(1));
    q.push(preview(1));
    expect(drain(q)).toEqual(['loss@1', 'preview:x0@1']);
    expect(q.size).toBe(0);
  });

  it('keeps only the newest pending preview, progress and latent', () => {
    const q = latestWinsQueue();
    for (let s = 1; s <= 5; s++) {
      q.push(preview(s));
      q.push(progress(s));
    }
    expect(drain(q)).toEqual(['preview:x0@5', 'progress@5']);
    expect(q.dropped).toBe(8);
  });

  it('never drops loss frames and keeps a newer preview behind an older loss', () => {
    const q = latestWinsQueue();
    q.push(preview(1));
    q.push(loss(1));
    q.push(preview(2));
    q.push(loss(2));
    expect(drain(q)).toEqual(['loss@1', 'preview:x0@2', 'loss@2']);
  });

  it('keeps previews of different kinds apart', () => {
    const q = latestWinsQueue();
    q.push(preview(1, 'x0'));
    q.push(preview(1, 'noised'));
    q.push(preview(2, 'x0'));
    expect(drain(q)).toEqual(['preview:noised@1', 'preview:x0@2']);
  });

  it('forgets everything on clear', () => {
    const q = latestWinsQueue();
    q.push(loss(1));
    q.clear();
    expect(q.shift()).toBeUndefined();
  });
});
