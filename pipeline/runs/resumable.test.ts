import { describe, expect, it } from 'bun:test';
import type { RunStatus } from './run-status.ts';
import { whyNotResumable } from './resumable.ts';

const status = (o: Partial<RunStatus>): RunStatus => ({
  id: 'r',
  kind: 'train',
  status: 'interrupted',
  createdAt: '',
  step: 3,
  files: [],
  meta: {},
  ...o,
});
const record = { id: 'r', kind: 'train' as const, request: { token: '<t>' }, status: status({}) };

describe('which runs resume', () => {
  it('an interrupted training run, and one that failed with internal or io, whose request was kept', () => {
    expect(whyNotResumable(status({}), record)).toBeUndefined();
    for (const code of ['internal', 'io'])
      expect(whyNotResumable(status({ status: 'failed', error: { code, message: '' } }), record)).toBeUndefined();
  });

  it('not one still going, finished, cancelled, failed for its request, of another kind, or without its request', () => {
    const failed = status({ status: 'failed', error: { code: 'numeric', message: 'NaN' } });
    expect(
      [
        status({ status: 'running' }),
        status({ status: 'done' }),
        status({ status: 'cancelled' }),
        failed,
        status({ kind: 'generate' }),
      ].map((s) => whyNotResumable(s, record)),
    ).toEqual([
      'it is still going',
      'it finished',
      'it was cancelled; start a new run with resume: true and its out folder to go on',
      "it failed with 'numeric', which running it again would repeat",
      'it is a generate run; only training runs resume',
    ]);
    expect(whyNotResumable(status({}), undefined)).toBe('this server did not keep its request');
    expect(whyNotResumable(status({}), { ...record, notResumable: 'its uploaded images are removed' })).toBe(
      'its uploaded images are removed',
    );
  });
});
